# Shared by the tests/system scripts (sourced, not run).

# The accounts setup-accounts creates.
T1=mitogen-t1
T2=mitogen-t2
NOPY=mitogen-nopy
TEST_USERS=("$T1" "$T2" "$NOPY")
PASSWORDS=/var/lib/mitogen-glib-tests/passwords
DEFAULT_STATE=/tmp/mitogen-glib-system

# resolve_state [DIR]: sets $STATE to DIR, else $MITOGEN_SYSTEM_STATE, else
# $DEFAULT_STATE, made absolute. Creates it (root-owned, 0755) and refuses a
# symlink or a directory someone else owns (it lives in /tmp by default).
resolve_state() {
  STATE=${1:-${MITOGEN_SYSTEM_STATE:-$DEFAULT_STATE}}
  if [ -L "$STATE" ]; then
    die "state directory $STATE is a symlink; refusing"
  fi
  if [ ! -d "$STATE" ]; then
    mkdir -p -m 0755 "$STATE"
  fi
  STATE=$(cd "$STATE" && pwd -P)
  case $STATE in
    # ssh -o UserKnownHostsFile=PATH splits PATH at white space.
    *[[:space:]\"\'\\]*) die "state directory '$STATE': white space, quotes and backslashes are not supported" ;;
  esac
  local owner
  owner=$(stat -c %u "$STATE")
  [ "$owner" = "$(id -u)" ] || die "state directory $STATE is owned by uid $owner, not by us; refusing"
  chmod 0755 "$STATE"
}

# write_var NAME VALUE: one NAME='VALUE' line, quoted for both bash's
# "source" and Python's shlex.
write_var() {
  local v=${2//\'/\'\\\'\'}
  printf "%s='%s'\n" "$1" "$v"
}

# port_open HOST PORT: true if a TCP connect succeeds within 1 s.
port_open() {
  timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# port_listening PORT: something in this namespace listens on TCP PORT.
port_listening() {
  [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}

# pid_alive PIDFILE PATTERN: the pid in PIDFILE runs, with PATTERN in its
# command line.
pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# stop_pidfile PIDFILE PATTERN: TERM (then KILL after 5 s) the process named
# in PIDFILE if it still is the one we started.
stop_pidfile() {
  local pid i
  if pid_alive "$1" "$2"; then
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# edit_authorized_keys USER PUBKEYFILE|"" STATE: rewrites ~USER/.ssh/
# authorized_keys without the line of state directory STATE (and without the
# lines of state directories that no longer exist), then adds PUBKEYFILE's
# key tagged "mitogen-glib-test state=STATE" unless PUBKEYFILE is empty.
# Other lines are kept.
edit_authorized_keys() {
  local user=$1 pub=$2 state=$3 home ak tmp line dir
  home=$(getent passwd "$user" | cut -d: -f6)
  [ -d "$home" ] || die "home directory of $user missing (run setup-accounts)"
  ak=$home/.ssh/authorized_keys
  [ -n "$pub" ] || [ -f "$ak" ] || return 0
  install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
  tmp=$(mktemp)
  if [ -f "$ak" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      case $line in
        *" mitogen-glib-test state="*)
          dir=${line##* mitogen-glib-test state=}
          [ "$dir" = "$state" ] && continue
          [ -f "$dir/id_ed25519.pub" ] || continue
          ;;
      esac
      printf '%s\n' "$line"
    done <"$ak" >"$tmp"
  fi
  if [ -n "$pub" ]; then
    printf '%s mitogen-glib-test state=%s\n' "$(cut -d' ' -f1-2 "$pub")" "$state" >>"$tmp"
  fi
  install -m 0600 -o "$user" -g "$user" "$tmp" "$ak"
  rm -f "$tmp"
}

# keygen TYPE FILE [COMMENT]: an unencrypted key pair, once.
keygen() {
  if [ ! -f "$2" ] || [ ! -f "$2.pub" ]; then
    rm -f "$2" "$2.pub"
    local bits=()
    [ "$1" = rsa ] && bits=(-b 3072)
    ssh-keygen -q -t "$1" "${bits[@]}" -N '' -C "${3:-mitogen-glib-test}" -f "$2"
  fi
  chmod 0600 "$2"
}

# sshd_config_common: the options every test sshd shares.
sshd_config_common() {
  cat <<EOF
# The test sshds: keys and passwords of the mitogen-glib test accounts only.
AddressFamily inet
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers ${TEST_USERS[*]}
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
UseDNS no
LogLevel VERBOSE
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowStreamLocalForwarding no
AllowAgentForwarding no
PermitTunnel no
GatewayPorts no
AcceptEnv LANG LC_* LANGUAGE
MaxStartups 100
MaxSessions 50
LoginGraceTime 30
EOF
}
