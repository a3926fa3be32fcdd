"""SQL on the engine: HiveQL and Redshift SQL compiled to MapReduce stages, run as an mrjob job."""

#: What the workers' forkserver imports for a query after ``engine.worker_preload``'s modules: the
#: compiled job and its Arrow form, which each worker would otherwise import at its first task
#: (~25-40 ms a worker, against once in the forkserver while the driver plans).
WORKER_MODULES = ("engine.sql.job", "engine.sql.vector")
