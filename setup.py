"""setuptools' entry for jbtrio's extensions: none unless the compiled build was asked for.

Everything else is in pyproject.toml; build_backend/jbtrio_build.py explains the build.
"""

from jbtrio_build import setup_arguments
from setuptools import setup

setup(**setup_arguments())
