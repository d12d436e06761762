#!/usr/bin/env bash
# Retakes the dashboard's screenshots in docs/ (ui-*.png) from the real page: DashboardTest in
# headless Chromium against a real branch, with -Djcyme.screenshots pointing at docs/.
#   scripts/ui-screenshots.sh [TESTS]   TESTS is Surefire's -Dtest (default: every DashboardTest method)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec bin/test -pl cli,it -am "-Dtest=${1:-DashboardTest}" -Dsurefire.failIfNoSpecifiedTests=false -Djcyme.screenshots="$PWD/docs"
