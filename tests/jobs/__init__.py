"""Plain mrjob jobs (``MRJob`` subclasses, not ``EngineMRJob``) used as test subjects."""
