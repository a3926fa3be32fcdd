"""The repo's mrjob jobs; each file runs on every mrjob runner and with ``-r engine``."""
