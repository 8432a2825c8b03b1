#!/bin/sh
# Migrate, then run the given docent command (serve by default). A signing key is required: pass
# DOCENT_SECRET_KEY (at least 32 random characters), e.g. from a secret store or an env file.
set -e
case "$1" in
  serve|worker) docent db upgrade ;;
esac
exec docent "$@"
