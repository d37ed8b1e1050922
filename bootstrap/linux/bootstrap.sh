#!/usr/bin/env bash
# Boots one fleet instance: registers a polling Tentacle with the feature's
# tenant, waits until Octopus has deployed the app, then tells the auto scaling
# group to keep the instance (CONTINUE) or to replace it (ABANDON). Meanwhile it
# records lifecycle heartbeats, so the launch hook waits as long as it progresses.
# It also starts the termination watch (a systemd unit running this script with
# --watch-termination): when Auto Scaling terminates the instance (a scale-in, the
# awake hours' scheduled action, a refresh), the termination hook holds it while
# the watch deletes its machine from Octopus, so no machine is left "unavailable".
#
# Usage: bootstrap.sh [SETTINGS_FILE]      (default: /etc/phoenix/bootstrap.env)
#        bootstrap.sh --watch-termination [SETTINGS_FILE]
# Safe to run again: a registered Tentacle is not registered twice and a
# completed lifecycle action is not signalled twice.
set -euo pipefail
umask 077

ROOT="${PHOENIX_ROOT:-}"   # empty on an instance; a scratch root under test
MODE="boot"
if [[ ${1:-} == --watch-termination ]]; then
  MODE="watch"
  shift
fi
SETTINGS_FILE="${1:-$ROOT/etc/phoenix/bootstrap.env}"
STATE_DIR="$ROOT/var/lib/phoenix"
LOG_FILE="$ROOT/var/log/phoenix/bootstrap.log"
TENTACLE="$ROOT/opt/octopus/tentacle/Tentacle"
TENTACLE_INSTANCE="Tentacle"
TENTACLE_CONFIG="$ROOT/etc/octopus/$TENTACLE_INSTANCE/tentacle-$TENTACLE_INSTANCE.config"
TENTACLE_APP_DIR="$ROOT/home/Octopus/Applications/"
IMDS="http://169.254.169.254/latest"
SERVER_COMMS_PORT=10943
WATCH_UNIT="phoenix-deregister.service"
# How often the watch reads the target lifecycle state (AWS's tutorial polls every 5 s).
WATCH_INTERVAL_SECONDS="${PHOENIX_WATCH_INTERVAL_SECONDS:-5}"
# What `Tentacle deregister-from` says when the machine is already gone (`sleep` or destroy removed it).
# What is left when a machine cannot be deleted: the policy's clean-up (doctor checks it deletes).
BACKSTOP="the machine policy removes it once it has been unavailable long enough"
NO_MACHINE="No machine was found matching this Tentacle's thumbprint"
REQUIRED_SETTINGS=(SERVER_URL SPACE ENVIRONMENT TENANT MACHINE_POLICY
  REGISTRATION_KEY_PARAMETER HEALTH_URL HEALTH_TIMEOUT_SECONDS HEALTH_INTERVAL_SECONDS
  LIFECYCLE_HOOK_NAME TERMINATION_HOOK_NAME ASG_NAME REGION INFRASTRUCTURE_VERSION TENTACLE_PACKAGE_SOURCE
  MACHINE_NAME_PREFIX HEALTHY_STATUS_CODES HEARTBEAT_INTERVAL_SECONDS)

STEP="start"
INSTANCE_ID=""
REGION=""
REGISTRATION_KEY=""
SIGNALLED=""
WORK_DIR=""
LAST_HEARTBEAT=""

# One timestamped line to the console and the log file; the key is masked
# even if a tool ever echoes it.
log() {
  local text="$*" stamp
  if [[ -n $REGISTRATION_KEY ]]; then
    text=${text//"$REGISTRATION_KEY"/"[redacted]"}
  fi
  stamp=$(TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1)
  printf '%s [%s] %s\n' "$stamp" "$STEP" "$text" >> "$LOG_FILE"
  printf '%s [%s] %s\n' "$stamp" "$STEP" "$text"
}

fail() {
  log "ERROR: $*"
  exit 1
}

step() {
  STEP="$1"
  log "begin"
  heartbeat
}

log_file_lines() {
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    [[ -z ${line//[[:space:]]/} ]] || log "  $line"
  done < "$1"
  : > "$1"
}

# Runs a command and logs its output; never its arguments, which may hold the key.
# Fd 9 (the run lock) is closed for children so no daemon keeps it.
run() {
  local status=0
  "$@" > "$WORK_DIR/output" 2>&1 9>&- || status=$?
  log_file_lines "$WORK_DIR/output"
  return "$status"
}

# capture VAR COMMAND...: the command's stdout into VAR, its stderr into the log.
capture() {
  local -n into="$1"
  local status=0
  shift
  # shellcheck disable=SC2034  # `into` is a nameref: this sets the caller's variable
  into=$("$@" 2> "$WORK_DIR/errors" 9>&-) || status=$?
  log_file_lines "$WORK_DIR/errors"
  return "$status"
}

# Restarts the launch hook's heartbeat timeout, at most once per heartbeat interval,
# so a slow install or deployment is not abandoned while it still progresses.
# A failed heartbeat is logged, never fatal: the hook's own timeout decides then.
heartbeat() {
  [[ $MODE == boot && -n $INSTANCE_ID && -z $SIGNALLED && ! -s $STATE_DIR/lifecycle-action ]] || return 0
  if [[ -n $LAST_HEARTBEAT ]] && (( SECONDS - LAST_HEARTBEAT < PHOENIX_HEARTBEAT_INTERVAL_SECONDS )); then
    return 0
  fi
  LAST_HEARTBEAT=$SECONDS
  if run aws autoscaling record-lifecycle-action-heartbeat --region "$REGION" \
    --auto-scaling-group-name "$PHOENIX_ASG_NAME" --lifecycle-hook-name "$PHOENIX_LIFECYCLE_HOOK_NAME" \
    --instance-id "$INSTANCE_ID"; then
    log "recorded a lifecycle heartbeat"
  else
    log "WARNING: record-lifecycle-action-heartbeat failed; the launch hook's timeout keeps running"
  fi
}

# Completes the launch lifecycle action once per run and once per instance.
signal() {
  local result="$1"
  [[ -z $SIGNALLED ]] || return 0
  SIGNALLED="$result"
  STEP="signal"
  if [[ -s $STATE_DIR/lifecycle-action ]]; then
    log "lifecycle action already completed ($(< "$STATE_DIR/lifecycle-action")); not signalling $result"
    return 0
  fi
  if [[ -z $INSTANCE_ID || -z $REGION ]]; then
    log "cannot signal $result without the instance id; the hook's heartbeat timeout abandons the launch"
    return 1
  fi
  log "complete-lifecycle-action $result (group $PHOENIX_ASG_NAME, hook $PHOENIX_LIFECYCLE_HOOK_NAME)"
  if ! run aws autoscaling complete-lifecycle-action --region "$REGION" \
    --auto-scaling-group-name "$PHOENIX_ASG_NAME" --lifecycle-hook-name "$PHOENIX_LIFECYCLE_HOOK_NAME" \
    --instance-id "$INSTANCE_ID" --lifecycle-action-result "$result"; then
    log "ERROR: complete-lifecycle-action $result failed"
    return 1
  fi
  printf '%s\n' "$result" > "$STATE_DIR/lifecycle-action"
}

on_exit() {
  local status=$?
  trap - EXIT
  if (( status != 0 )); then
    log "FAILED in step '$STEP' (exit $status)"
    [[ $MODE != boot ]] || signal ABANDON || true
  fi
  [[ -z $WORK_DIR ]] || rm -rf "$WORK_DIR"
  exit "$status"
}

load_settings() {
  local name value
  [[ -r $SETTINGS_FILE ]] || fail "settings file $SETTINGS_FILE is missing"
  # shellcheck source=/dev/null
  source "$SETTINGS_FILE"
  for name in "${REQUIRED_SETTINGS[@]}"; do
    value="PHOENIX_$name"
    [[ -n ${!value:-} ]] || fail "setting PHOENIX_$name is missing or empty"
  done
  [[ ${PHOENIX_ROLES+set} && ${#PHOENIX_ROLES[@]} -gt 0 ]] || fail "setting PHOENIX_ROLES is missing or empty"
  log "infrastructure $PHOENIX_INFRASTRUCTURE_VERSION; server $PHOENIX_SERVER_URL, space $PHOENIX_SPACE," \
    "environment $PHOENIX_ENVIRONMENT, tenant $PHOENIX_TENANT, roles ${PHOENIX_ROLES[*]}"
}

imds_token() {
  curl --silent --show-error --fail --max-time 5 --retry 3 --request PUT \
    --header "X-aws-ec2-metadata-token-ttl-seconds: 300" "$IMDS/api/token"
}

imds_get() {
  curl --silent --show-error --fail --max-time 5 --retry 3 \
    --header "X-aws-ec2-metadata-token: $2" "$IMDS/meta-data/$1"
}

read_metadata() {
  local token instance_id region
  capture token imds_token
  capture instance_id imds_get instance-id "$token"
  capture region imds_get placement/region "$token"
  [[ $instance_id == i-* ]] || fail "instance metadata returned an odd instance id '$instance_id'"
  INSTANCE_ID="$instance_id"
  REGION="$region"
  if [[ $REGION != "$PHOENIX_REGION" ]]; then
    log "WARNING: rendered for $PHOENIX_REGION but running in $REGION; using $REGION"
  fi
  log "instance $INSTANCE_ID in $REGION"
}

# Sets REGISTRATION_KEY; returns non-zero (the reason logged) when SSM gives none.
read_registration_key() {
  capture REGISTRATION_KEY aws ssm get-parameter --region "$REGION" --name "$PHOENIX_REGISTRATION_KEY_PARAMETER" \
    --with-decryption --query Parameter.Value --output text || return 1
  if [[ -z $REGISTRATION_KEY || $REGISTRATION_KEY == None ]]; then
    REGISTRATION_KEY=""
    log "SSM parameter $PHOENIX_REGISTRATION_KEY_PARAMETER is empty"
    return 1
  fi
  log "read the registration key from SSM parameter $PHOENIX_REGISTRATION_KEY_PARAMETER"
}

install_tentacle() {
  local source="${PHOENIX_TENTACLE_PACKAGE_SOURCE%/}"
  if [[ -x $TENTACLE ]]; then
    log "Tentacle already installed"
    return 0
  fi
  if command -v dnf > /dev/null || command -v yum > /dev/null; then
    local manager
    manager=$(command -v dnf || command -v yum)
    log "adding the Tentacle repository $source/tentacle.repo"
    mkdir -p "$ROOT/etc/yum.repos.d"
    run curl --silent --show-error --fail --location --max-time 60 --retry 3 \
      --output "$ROOT/etc/yum.repos.d/octopus-tentacle.repo" "$source/tentacle.repo"
    chmod 0644 "$ROOT/etc/yum.repos.d/octopus-tentacle.repo"
    run "$manager" install -y tentacle
  elif command -v apt-get > /dev/null; then
    log "adding the Tentacle repository $source"
    mkdir -p "$ROOT/etc/apt/keyrings" "$ROOT/etc/apt/sources.list.d"
    run curl --silent --show-error --fail --location --max-time 60 --retry 3 \
      --output "$ROOT/etc/apt/keyrings/octopus-tentacle.asc" "$source/public.key"
    printf 'deb [signed-by=/etc/apt/keyrings/octopus-tentacle.asc] %s/ stable main\n' "$source" \
      > "$ROOT/etc/apt/sources.list.d/octopus-tentacle.list"
    chmod 0644 "$ROOT/etc/apt/keyrings/octopus-tentacle.asc" "$ROOT/etc/apt/sources.list.d/octopus-tentacle.list"
    DEBIAN_FRONTEND=noninteractive run apt-get update
    DEBIAN_FRONTEND=noninteractive run apt-get install -y tentacle
  else
    fail "no dnf, yum or apt-get to install the Tentacle with"
  fi
  [[ -x $TENTACLE ]] || fail "the tentacle package did not install $TENTACLE"
}

configure_tentacle() {
  if [[ ! -f $TENTACLE_CONFIG ]]; then
    run "$TENTACLE" create-instance --instance "$TENTACLE_INSTANCE" --config "$TENTACLE_CONFIG"
  fi
  run "$TENTACLE" new-certificate --instance "$TENTACLE_INSTANCE" --if-blank
  # Polling: instances in private subnets cannot be reached by the server.
  run "$TENTACLE" configure --instance "$TENTACLE_INSTANCE" --noListen True --reset-trust --app "$TENTACLE_APP_DIR"
}

register_tentacle() {
  local machine_name="$1" role
  local role_args=()
  for role in "${PHOENIX_ROLES[@]}"; do
    role_args+=(--role "$role")
  done
  log "registering $machine_name"
  run "$TENTACLE" register-with --instance "$TENTACLE_INSTANCE" --server "$PHOENIX_SERVER_URL" \
    --apiKey "$REGISTRATION_KEY" --space "$PHOENIX_SPACE" --name "$machine_name" \
    --env "$PHOENIX_ENVIRONMENT" "${role_args[@]}" --tenant "$PHOENIX_TENANT" \
    --tenanted-deployment-participation Tenanted --policy "$PHOENIX_MACHINE_POLICY" \
    --comms-style TentacleActive --server-comms-port "$SERVER_COMMS_PORT"
  REGISTRATION_KEY=""
  printf '%s\n' "$machine_name" > "$STATE_DIR/registered"
}

# Whether an HTTP code is one the load balancer's matcher accepts too: "200",
# "200,204" or "200-299" (the one rule of bootstrap/health.py).
healthy_code() {
  local code="$1" item items
  [[ $code =~ ^[0-9]{3}$ ]] || return 1
  IFS=, read -r -a items <<< "$PHOENIX_HEALTHY_STATUS_CODES"
  for item in "${items[@]}"; do
    if (( 10#$code >= 10#${item%-*} && 10#$code <= 10#${item#*-} )); then
      return 0
    fi
  done
  return 1
}

# The project trigger deploys to the new machine; the app's health says when it landed.
wait_for_health() {
  local deadline=$((SECONDS + PHOENIX_HEALTH_TIMEOUT_SECONDS)) interval="$PHOENIX_HEALTH_INTERVAL_SECONDS"
  local code last="" checks=0 wanted="HTTP $PHOENIX_HEALTHY_STATUS_CODES"
  log "waiting up to ${PHOENIX_HEALTH_TIMEOUT_SECONDS}s for $wanted from $PHOENIX_HEALTH_URL"
  while true; do
    checks=$((checks + 1))
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time "$interval" \
      "$PHOENIX_HEALTH_URL" 2> /dev/null) || true
    if healthy_code "$code"; then
      log "healthy: HTTP $code after $checks checks"
      return 0
    fi
    if [[ $code != "$last" ]]; then
      log "not healthy yet: HTTP ${code:-000}"
      last="$code"
    fi
    (( SECONDS < deadline )) || fail "no $wanted from $PHOENIX_HEALTH_URL within ${PHOENIX_HEALTH_TIMEOUT_SECONDS}s (last HTTP ${code:-000})"
    heartbeat
    sleep "$interval"
  done
}

# The termination watch runs as its own unit, so it outlives this run and starts again after a reboot.
start_termination_watch() {
  local unit="$ROOT/etc/systemd/system/$WATCH_UNIT"
  mkdir -p "${unit%/*}"
  cat > "$unit" <<UNIT
[Unit]
Description=phoenix: delete this instance's Octopus machine when Auto Scaling terminates it
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/bin/bash /opt/phoenix/bootstrap.sh --watch-termination /etc/phoenix/bootstrap.env
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
UNIT
  chmod 0644 "$unit"
  run systemctl daemon-reload
  run systemctl enable --now "$WATCH_UNIT"
}

# The state Auto Scaling is taking the instance to: InService, Terminated, Standby, Detached, Warmed:*.
target_lifecycle_state() {
  local token
  token=$(imds_token 2> /dev/null 9>&-) || return 1
  imds_get autoscaling/target-lifecycle-state "$token" 2> /dev/null 9>&-
}

# Deletes this Tentacle's machine (found by its certificate's thumbprint) from Octopus.
# The registration key is read again here and forgotten at once; it is never kept on disk.
deregister_tentacle() {
  local status=0 said
  if ! read_registration_key; then
    log "WARNING: without the registration key this instance's machine stays in Octopus; $BACKSTOP"
    return 0
  fi
  "$TENTACLE" deregister-from --instance "$TENTACLE_INSTANCE" --server "$PHOENIX_SERVER_URL" \
    --apiKey "$REGISTRATION_KEY" --space "$PHOENIX_SPACE" > "$WORK_DIR/output" 2>&1 9>&- || status=$?
  REGISTRATION_KEY=""
  said=$(< "$WORK_DIR/output")
  log_file_lines "$WORK_DIR/output"
  if (( status == 0 )); then
    log "deleted this instance's machine from Octopus"
  elif [[ $said == *"$NO_MACHINE"* ]]; then
    log "no machine to delete: it was already removed from Octopus"
  else
    log "WARNING: could not delete this instance's machine from Octopus (exit $status); $BACKSTOP"
  fi
}

# begin_run LOCK WHAT: one run of each kind at a time (exit 75 while another holds LOCK), then the
# scratch folder and the exit handler. Fd 9 holds the lock until the script ends.
begin_run() {
  mkdir -p "$STATE_DIR" "${LOG_FILE%/*}"
  exec 9> "$STATE_DIR/$1.lock"
  if ! flock --nonblock 9; then
    log "another $2 is running on this instance; leaving it alone"
    exit 75
  fi
  WORK_DIR=$(mktemp -d)
  trap on_exit EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
}

# Waits for Auto Scaling to terminate the instance, then deletes its machine and lets the
# termination go on. A failed deletion never holds the instance: the hook's timeout is short.
watch_termination() {
  local state=""
  begin_run watch "termination watch"
  STEP="termination watch"
  load_settings
  read_metadata
  log "watching the target lifecycle state every ${WATCH_INTERVAL_SECONDS}s"
  until [[ $state == Terminated ]]; do
    state=$(target_lifecycle_state) || state=""
    [[ $state == Terminated ]] || sleep "$WATCH_INTERVAL_SECONDS"
  done
  STEP="deregister"
  log "Auto Scaling is terminating this instance"
  deregister_tentacle
  log "complete-lifecycle-action CONTINUE (group $PHOENIX_ASG_NAME, hook $PHOENIX_TERMINATION_HOOK_NAME)"
  run aws autoscaling complete-lifecycle-action --region "$REGION" \
    --auto-scaling-group-name "$PHOENIX_ASG_NAME" --lifecycle-hook-name "$PHOENIX_TERMINATION_HOOK_NAME" \
    --instance-id "$INSTANCE_ID" --lifecycle-action-result CONTINUE ||
    fail "complete-lifecycle-action CONTINUE failed; the termination hook's timeout lets the instance go"
  STEP="done"
  log "termination watch complete"
}

main() {
  if [[ $MODE == watch ]]; then
    watch_termination
    return
  fi
  begin_run bootstrap bootstrap

  step settings
  load_settings
  step "instance metadata"
  read_metadata
  if [[ -s $STATE_DIR/registered ]]; then
    log "Tentacle already registered as $(< "$STATE_DIR/registered"); not registering again"
    step "tentacle install"
    install_tentacle
  else
    step "registration key"
    read_registration_key || fail "no registration key from SSM parameter $PHOENIX_REGISTRATION_KEY_PARAMETER"
    step "tentacle install"
    install_tentacle
    step "tentacle configure"
    configure_tentacle
    step "tentacle register"
    register_tentacle "$PHOENIX_MACHINE_NAME_PREFIX-$INSTANCE_ID"
  fi
  step "tentacle service"
  run "$TENTACLE" service --instance "$TENTACLE_INSTANCE" --install --start
  step "termination watch"
  start_termination_watch
  step health
  wait_for_health
  signal CONTINUE
  STEP="done"
  log "bootstrap complete"
}

main "$@"
