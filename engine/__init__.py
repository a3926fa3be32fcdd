"""A MapReduce engine for mrjob jobs: parallel map, sort-based shuffle, reduce, atomic commit.

Run a job of this repo with ``python jobs/wordcount.py -r engine INPUT``, or any mrjob job
with ``python -m engine run path/to/job.py INPUT``.
"""

__version__ = "0.1.0"
