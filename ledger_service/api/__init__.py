"""HTTP controllers: a few lines each, the work happens in the service modules."""
