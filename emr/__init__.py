"""Running this repository's jobs on Amazon EMR.

- ``emr/mrjob.conf``: mrjob's EMR runner configuration (``python jobs/wordcount.py -r emr
  --conf-path emr/mrjob.conf ...``).
- ``python -m emr.lab``: create the lab bucket with secure defaults, upload data, run a job
  or the CloudFront lab's Hive script (``emr/Hive_CloudFront.q``), download results, and
  tear everything down.

Everything here stays Python 3.9-compatible (EMR 7 ships Python 3.9).
"""
