"""arq worker: thin task functions over the Internal services, plus the sweeper."""
