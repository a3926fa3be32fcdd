"""Imported first by the workers' forkserver on Python 3.12+ (``engine.executor._context``): loads
setuptools' copy of ``distutils`` without setuptools (``engine.__main__._setuptools_distutils``)
before its preload imports mrjob, as ``python -m engine`` does for the driver. Below 3.12 the
forkserver gets the standard library's through ``SETUPTOOLS_USE_DISTUTILS=stdlib`` instead."""

from engine.__main__ import _distutils_without_setuptools

_distutils_without_setuptools()
