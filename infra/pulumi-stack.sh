#!/usr/bin/env bash
# The Pulumi half of the front door: `make plan ENV=x` runs `pulumi preview`, `make deploy-infra
# ENV=x` runs `pulumi up`, on stack x of infra/ with the guardrails (infra/policy).
#
# What needs no Pulumi runs first (the environment against its profile: infra/preflight.py), so a
# machine without the CLI still learns whether hardware/ is right; `up` ends by handing the stack's
# secrets to `make deploy` (infra/handoff.py). Exit status: 0 done; 1 problems (hardware file,
# guardrails, Pulumi, a secrets file holding other values); 2 bad arguments; 4 no such
# environment, no pulumi CLI or no Pulumi backend.
# (make itself then exits 2 and prints "Error N" with this status.)
set -euo pipefail
action=${1:?usage: pulumi-stack.sh preview|up ENV}
env=${2:-}
case $action in preview) target=plan ;; up) target=deploy-infra ;; *) echo "unknown action $action" >&2; exit 2 ;; esac
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BIN:-$root/.venv/bin}
pulumi=${PULUMI:-pulumi}
cd "$root"

if [ -z "$env" ]; then
  known=$(cd "${MARSAD_HARDWARE_DIR:-hardware}/environments" && ls *.yaml 2>/dev/null | sed 's/\.yaml$//' | tr '\n' ' ')
  echo "usage: make $target ENV=<environment>   (hardware/environments/: ${known:-none})" >&2
  exit 2
fi

"$bin/python" -m infra.preflight "$env"

if ! command -v "$pulumi" >/dev/null 2>&1; then
  cat >&2 <<MSG

pulumi CLI not found: the lab path (make lab / make deploy ENV=lab) works without it.
On your machine install Pulumi (https://www.pulumi.com/docs/install/, or unpack the release
archive pulumi-v3.*-linux-x64.tar.gz and put its pulumi/ folder on PATH) and run:
    pulumi login --local                                 # keep the state on this machine
    export PULUMI_CONFIG_PASSPHRASE_FILE=/root/marsad-pulumi.passphrase   # encrypts the stack's secrets
    make plan ENV=$env                                   # preview, with the guardrails
    make deploy-infra ENV=$env                           # create/register; secrets handed to make deploy
See infra/README.md (air-gapped machines: the plugins random 4.21.4 and proxmoxve 8.6.0).
MSG
  exit 4
fi

# The program's SDKs, pinned; a no-op once installed (pip does not reach an index when satisfied).
"$bin/pip" install -q -r infra/requirements.txt

if ! "$pulumi" whoami --non-interactive >/dev/null 2>&1; then
  echo "pulumi is not logged in to a backend: 'pulumi login --local' keeps the state on this machine" \
       "(or pulumi login file:///path, s3://bucket); then make $target ENV=$env again" >&2
  exit 4
fi

cd infra
"$pulumi" stack select --create "$env"
# A stack of an environment added to hardware/ after this repository shipped: name it in its config.
"$pulumi" config get environment --stack "$env" >/dev/null 2>&1 || "$pulumi" config set environment "$env" --stack "$env"

if [ "$action" = preview ]; then
  exec "$pulumi" preview --stack "$env" --policy-pack policy --diff
fi

"$pulumi" up --stack "$env" --policy-pack policy ${YES:+--yes}
# The stack's secrets to where `make deploy ENV` reads them (0600): Ansible uses the same values.
"$pulumi" stack output inventory --stack "$env" --show-secrets --json | (cd "$root" && "$bin/python" -m infra.handoff "$env")
