"""Test suite of the engine, the jobs and the labs."""
