# shellcheck shell=bash
# Shared by tests/hosts/run.sh and tests/fleet/e2e.sh (source it, do not run it):
# the pinned host CLIs, server-everything on loopback, the sandbox host files,
# and what the real CLIs list. See tests/hosts/FINDINGS.md.
#
# The sourcing script sets WORK (its scratch directory) before calling anything
# here, and SB (the sandbox HOME that hostfile, render_*, set_host_env and list_all
# act on; it may point SB at another home between calls). Its exit trap kills $SE_PID
# and "${LIST_PIDS[@]}".
#
# Environment: MCPFLEET_CACHE (default ~/.cache/mcpfleet; packages go to its hostpeers/),
# HOSTS_TIMEOUT (seconds per CLI call, default 60), HOSTS_WAIT (seconds a host's command
# is run again while it does not show what the phase waits for, default 90: list_all).

HOSTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMO=${HOSTS_TIMEOUT:-60}
CACHE=${MCPFLEET_CACHE:-$HOME/.cache/mcpfleet}/hostpeers

since() { local ms=$((($(date +%s%N) - $1) / 1000000)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }
PASS=0
FAIL=0
pass() { PASS=$((PASS + 1)); echo "PASS: $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
note() { echo "  note: $*"; }
show() { # $1 = output file: print it indented, for a failure
    sed 's/^/    | /' "$1" | head -40
}

SE_PID=
LIST_PIDS=()

# ---------------------------------------------------------------------------
# The pinned host CLIs (clean install into the cache, reused while the lock
# matches); sets BIN (their bin/), SE (server-everything's index.js) and HPATH.
# ---------------------------------------------------------------------------
install_peers() {
    mkdir -p "$CACHE"
    exec 9>"$CACHE.lock"
    flock -w 900 9 || { echo "cannot lock $CACHE.lock" >&2; exit 2; }
    local want
    want=$(cat "$HOSTS_DIR/package.json" "$HOSTS_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)
    want="$want $(uname -sm | tr ' ' -) node-$(node -p 'process.versions.node.split(".")[0]')"
    if [ -d "$CACHE/node_modules" ] && [ "$(cat "$CACHE/.stamp" 2>/dev/null)" = "$want" ]; then
        echo "host CLIs: reusing $CACHE"
    else
        echo "host CLIs: installing into $CACHE ..."
        rm -rf "$CACHE/node_modules" "$CACHE/.stamp"
        cp "$HOSTS_DIR/package.json" "$HOSTS_DIR/package-lock.json" "$CACHE/"
        # Not `npm ci`: it refuses this lock because the registry lacks some platform
        # packages the CLIs list as optional (e.g. @factory/cli-linux-x64@0.225.1).
        # A clean `npm install` from package.json + lock is the same thing otherwise.
        if ! (cd "$CACHE" && timeout 1200 npm install --no-audit --no-fund --no-save \
                --loglevel=error >"$WORK/npm-install.log" 2>&1); then
            tail -30 "$WORK/npm-install.log" >&2
            echo "npm install failed" >&2
            exit 2
        fi
        if ! (cd "$CACHE" && node -e '
            const want = require("./package.json"); let bad = 0;
            for (const [n, v] of Object.entries({...want.dependencies, ...want.optionalDependencies})) {
                const got = require("./node_modules/" + n + "/package.json").version;
                if (got !== v) { console.error(n + ": want " + v + ", got " + got); bad = 1; }
            }
            process.exit(bad)'); then
            echo "installed versions differ from tests/hosts/package.json" >&2
            exit 2
        fi
        echo "$want" >"$CACHE/.stamp"
    fi
    exec 9>&-
    BIN=$CACHE/node_modules/.bin
    SE=$CACHE/node_modules/@modelcontextprotocol/server-everything/dist/index.js
    for b in claude codex gemini opencode droid qwen copilot; do
        [ -x "$BIN/$b" ] || { echo "missing $BIN/$b (delete $CACHE and retry)" >&2; exit 2; }
    done
    [ -f "$SE" ] || { echo "missing $SE" >&2; exit 2; }
    HPATH=$BIN:$(dirname "$(command -v node)"):/usr/local/bin:/usr/bin:/bin
}

# ---------------------------------------------------------------------------
# server-everything over Streamable HTTP on a free loopback port: sets SE_PID, PORT,
# URL and NAMEPORT (the URL as a regex); its log is $WORK/everything.log.
start_everything() {
    local PORT_FILE=$WORK/everything.port
    PORT=0 MCP_PORT_FILE=$PORT_FILE node --require "$HOSTS_DIR/loopback.cjs" "$SE" streamableHttp \
        >"$WORK/everything.log" 2>&1 &
    SE_PID=$!
    for _ in $(seq 150); do
        [ -s "$PORT_FILE" ] && break
        kill -0 "$SE_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$PORT_FILE" ] || { cat "$WORK/everything.log" >&2; echo "server-everything did not start" >&2; exit 2; }
    PORT=$(cat "$PORT_FILE")
    URL=http://127.0.0.1:$PORT/mcp
    echo "server-everything: $URL (pid $SE_PID)"
    NAMEPORT=$(printf '%s' "$URL" | sed 's/[.]/\\./g')
}

# ---------------------------------------------------------------------------
# Sandbox homes: every host present, each file with a user-authored entry
# ("my-own", a working stdio server) and sibling keys. Rendered "before"
# (user content only) or "after" (plus the two managed entries, as the selfcheck
# writes them in the formats verified in FINDINGS.md), or "broken" (wrong shapes).
# ---------------------------------------------------------------------------
seed_home() { # $1 = a sandbox HOME: creates the hosts' config directories
    mkdir -p "$1/.claude" "$1/.codex" "$1/.gemini" "$1/.config/opencode" "$1/.factory" "$1/.cursor"
    # OpenCode installs @opencode-ai/plugin from npm into its config dir on every start
    # unless node_modules/ exists and package-lock.json lists it (what a used install has).
    mkdir -p "$1/.config/opencode/node_modules"
    echo '{"packages":{"":{"dependencies":{"@opencode-ai/plugin":"*"}}}}' >"$1/.config/opencode/package-lock.json"
}

HOSTS="claude-code codex gemini opencode droid cursor"
hostfile() {
    case $1 in
        claude-code) echo "$SB/.claude.json" ;;
        codex) echo "$SB/.codex/config.toml" ;;
        gemini) echo "$SB/.gemini/settings.json" ;;
        opencode) echo "$SB/.config/opencode/opencode.json" ;;
        droid) echo "$SB/.factory/mcp.json" ;;
        cursor) echo "$SB/.cursor/mcp.json" ;;
        claude-desktop) echo "$SB/.config/Claude/claude_desktop_config.json" ;;
        qwen) echo "$SB/.qwen/settings.json" ;;
        copilot) echo "$SB/.copilot/mcp-config.json" ;;
        cline) echo "$SB/.cline/data/settings/cline_mcp_settings.json" ;;
        continue-cli) echo "$SB/.continue/config.yaml" ;;
    esac
}

# $1 = before | after | broken
render_claude() {
    # Claude Code's own format (JSON.stringify(x, null, 2), no final newline) and the
    # keys it adds on first start, so that merely listing does not make it rewrite.
    MODE_R=$1 SE=$SE URL=$URL node -e '
        const m = process.env.MODE_R, se = process.env.SE, url = process.env.URL;
        const servers = { "my-own": { type: "stdio", command: "node", args: [se, "stdio"], env: { MY_OWN: "1" } } };
        if (m === "after") {
            servers["everything-stdio"] = { type: "stdio", command: "node", args: [se, "stdio"] };
            servers["everything-http"] = { type: "http", url: url };
        } else if (m === "broken") {
            servers["everything-stdio"] = { type: "stdio", command: "node", args: se + " stdio" };
            servers["everything-http"] = { url: url };
        }
        const doc = {
            numStartups: 12, installMethod: "npm-global", autoUpdates: false,
            hasCompletedOnboarding: true, lastOnboardingVersion: "2.1.330",
            tipsHistory: { "new-user-warmup": 1 },
            mcpServers: servers,
            firstStartTime: "2026-01-05T09:00:00.000Z", firstStartVersion: "2.1.300",
            machineID: "0".repeat(64), opusProMigrationComplete: true, seenNotifications: {},
            hasResetAutoModeOptInForDefaultOffer: true, migrationVersion: 15,
            userID: "1".repeat(64),
        };
        process.stdout.write(JSON.stringify(doc, null, 2));'
}

render_codex() {
    cat <<EOF
# my Codex settings (hand-written; comments must survive)
model = "gpt-5-codex"
approval_policy = "on-request"

[mcp_servers.my-own]
command = "node"
args = ["$SE", "stdio"]   # trailing comment

[mcp_servers.my-own.env]
MY_OWN = "1"

[projects."/home/someone/src"]
trust_level = "trusted"
EOF
    case $1 in
        after) cat <<EOF

[mcp_servers.everything-stdio]
command = "node"
args = ["$SE", "stdio"]

[mcp_servers.everything-http]
url = "$URL"
EOF
            ;;
        broken) cat <<EOF

[mcp_servers.everything-stdio]
command = "node"
args = ["$SE", "stdio"]

[mcp_servers.everything-http]
command = "node"
url = "$URL"
EOF
            ;;
    esac
}

render_gemini() {
    local managed=
    case $1 in
        after) managed=",
    \"everything-stdio\": { \"command\": \"node\", \"args\": [\"$SE\", \"stdio\"] },
    \"everything-http\": { \"url\": \"$URL\", \"type\": \"http\" }" ;;
        broken) managed=",
    \"everything-stdio\": { \"command\": \"node\", \"args\": [\"$SE\", \"stdio\"] },
    \"everything-http\": { \"url\": \"$URL\", \"type\": \"streamable-http\" }," ;;
    esac
    cat <<EOF
{
  // my Gemini CLI settings: JSONC, comments must survive
  "general": { "enableAutoUpdate": false },
  "privacy": { "usageStatisticsEnabled": false },
  "security": { "folderTrust": { "enabled": false } },
  "mcpServers": {
    "my-own": { "command": "node", "args": ["$SE", "stdio"], "env": { "MY_OWN": "1" } }$managed
  },
  "ui": { "hideBanner": true }
}
EOF
}

render_opencode() {
    local managed=
    case $1 in
        after) managed=",
    \"everything-stdio\": { \"type\": \"local\", \"command\": [\"node\", \"$SE\", \"stdio\"] },
    \"everything-http\": { \"type\": \"remote\", \"url\": \"$URL\" }" ;;
        broken) managed=",
    \"everything-stdio\": { \"type\": \"stdio\", \"command\": \"node\", \"args\": [\"$SE\", \"stdio\"] },
    \"everything-http\": { \"type\": \"http\", \"url\": \"$URL\" }" ;;
    esac
    cat <<EOF
{
  "\$schema": "https://opencode.ai/config.json",
  "autoupdate": false,
  "mcp": {
    "my-own": {
      "type": "local",
      "command": ["node", "$SE", "stdio"],
      "environment": { "MY_OWN": "1" }
    }$managed
  }
}
EOF
}

render_droid() {
    local managed=
    case $1 in
        after) managed=",
    \"everything-stdio\": {
      \"type\": \"stdio\",
      \"command\": \"node\",
      \"args\": [\"$SE\", \"stdio\"]
    },
    \"everything-http\": {
      \"type\": \"http\",
      \"url\": \"$URL\"
    }" ;;
        broken) managed=",
    \"everything-stdio\": { \"type\": \"stdio\", \"command\": \"node\", \"args\": [\"$SE\", \"stdio\"] },
    \"everything-http\": { \"url\": \"$URL\" }" ;;
    esac
    cat <<EOF
{
  "mcpServers": {
    "my-own": {
      "type": "stdio",
      "command": "node",
      "args": ["$SE", "stdio"],
      "env": { "MY_OWN": "1" }
    }$managed
  }
}
EOF
}

render_cursor() {
    # minified, no final newline: what Cursor itself writes
    local managed=
    case $1 in
        after|broken) managed=",\"everything-stdio\":{\"command\":\"node\",\"args\":[\"$SE\",\"stdio\"]},\"everything-http\":{\"url\":\"$URL\"}" ;;
    esac
    printf '{"mcpServers":{"my-own":{"command":"node","args":["%s","stdio"]}%s}}' "$SE" "$managed"
}

# Qwen Code's own settings (JSONC, like Gemini CLI's), with the "$version" it adds to a
# file that lacks it (FINDINGS.md), auto-update and usage statistics off. Remote servers: httpUrl (Streamable HTTP); broken: the Gemini spelling url +
# type "http", which Qwen reads as SSE, and args as a string.
render_qwen() {
    local managed=
    case $1 in
        after) managed=",
    \"everything-stdio\": { \"command\": \"node\", \"args\": [\"$SE\", \"stdio\"] },
    \"everything-http\": { \"httpUrl\": \"$URL\" }" ;;
        broken) managed=",
    \"everything-stdio\": { \"command\": \"node\", \"args\": \"$SE stdio\" },
    \"everything-http\": { \"url\": \"$URL\", \"type\": \"http\" }" ;;
    esac
    cat <<EOF
{
  // my Qwen Code settings: comments must survive
  "\$version": 4,
  "general": { "enableAutoUpdate": false },
  "privacy": { "usageStatisticsEnabled": false },
  "mcpServers": {
    "my-own": { "command": "node", "args": ["$SE", "stdio"], "env": { "MY_OWN": "1" } }$managed
  }
}
EOF
}

# GitHub Copilot CLI: "type" and "tools" on every entry; broken: args as a string (the
# entry is dropped) and a remote URL under type "stdio".
render_copilot() {
    local managed=
    case $1 in
        after) managed=",
    \"everything-stdio\": {
      \"type\": \"stdio\",
      \"command\": \"node\",
      \"args\": [\"$SE\", \"stdio\"],
      \"tools\": [\"*\"]
    },
    \"everything-http\": {
      \"type\": \"http\",
      \"url\": \"$URL\",
      \"tools\": [\"*\"]
    }" ;;
        broken) managed=",
    \"everything-stdio\": { \"type\": \"stdio\", \"command\": \"node\", \"args\": \"$SE stdio\", \"tools\": [\"*\"] },
    \"everything-http\": { \"type\": \"stdio\", \"url\": \"$URL\", \"tools\": [\"*\"] }" ;;
    esac
    cat <<EOF
{
  "mcpServers": {
    "my-own": {
      "type": "local",
      "command": "node",
      "args": ["$SE", "stdio"],
      "env": { "MY_OWN": "1" },
      "tools": ["*"]
    }$managed
  }
}
EOF
}

render_all() {
    local h f
    for h in $HOSTS; do
        f=$(hostfile "$h")
        case $h in
            claude-code) render_claude "$1" ;;
            *) "render_$h" "$1" ;;
        esac >"$f" # in place: keeps the file's mode, as mcpfleet must
    done
}

# ---------------------------------------------------------------------------
# Running the host CLIs in $SB (all five in parallel, each bounded)
# ---------------------------------------------------------------------------
set_host_env() { # host_env=(env -i ...): how the hosts are run, in HOME=$SB
    host_env=(env -i "PATH=$HPATH" "HOME=$SB" "TERM=dumb" "NO_COLOR=1" "LANG=C.UTF-8"
        # keep the hosts off the network: the list must work offline
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1" "DISABLE_AUTOUPDATER=1"
        "OPENCODE_DISABLE_MODELS_FETCH=1" "OPENCODE_DISABLE_AUTOUPDATE=1"
        "FACTORY_AIRGAP_ENABLED=1" "COPILOT_OFFLINE=true")
}

# A prompt run (claude -p, codex exec) starts the host's servers, and by default sends
# its first request with whatever tools are up by then (claude after at most 5 s, codex
# at once): on a loaded machine a stdio server can miss it. Told so, they wait for their
# servers, up to TMO - 10 seconds, which costs nothing while they start fast. Claude
# Code: MCP_CONNECTION_NONBLOCKING=false (wait before the first query), for at most
# MCP_CONNECT_TIMEOUT_MS, and MCP_TIMEOUT for a server's startup; codex: each server
# required (its start awaited; one that cannot start fails the run) with that
# startup_timeout_sec (10 s by default), as -c overrides, so its file stays as synced.
MCP_WAIT=$((TMO > 20 ? TMO - 10 : 10))
# shellcheck disable=SC2034 # for the sourcing scripts
CLAUDE_WAIT=(MCP_CONNECTION_NONBLOCKING=false "MCP_CONNECT_TIMEOUT_MS=$((MCP_WAIT * 1000))"
    "MCP_TIMEOUT=$((MCP_WAIT * 1000))")
codex_wait() { # sets CODEX_WAIT: the codex -c options for each server of codex's file in $SB
    local n
    CODEX_WAIT=()
    while read -r n; do
        CODEX_WAIT+=(-c "mcp_servers.$n.required=true" -c "mcp_servers.$n.startup_timeout_sec=$MCP_WAIT")
    done < <(sed -n 's/^\[mcp_servers\.\([A-Za-z0-9_-]*\)\] *$/\1/p' "$(hostfile codex)")
}

CLIS="claude codex gemini opencode droid"
# HOSTS_WAIT (seconds, default 90): how long list_all keeps listing again a CLI whose
# list does not yet show what the phase waits for.
LIST_WAIT=${HOSTS_WAIT:-90}
list_one() { # TAG CLI: one "CLI mcp list" in $SB; output in $WORK/TAG.CLI (.raw, .rc, .time)
    local tag=$1 c=$2 t1 cpid rc=0
    cd "$SB" || exit 1
    t1=$(date +%s%N)
    "${host_env[@]}" timeout "$TMO" "$BIN/$c" mcp list </dev/null >"$WORK/$tag.$c.raw" 2>&1 &
    cpid=$!
    trap 'kill $cpid 2>/dev/null; exit 143' TERM
    wait $cpid || rc=$?
    echo "$c $(since "$t1")" >"$WORK/$tag.$c.time"
    sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$WORK/$tag.$c.raw" >"$WORK/$tag.$c"
    echo "$rc" >"$WORK/$tag.$c.rc"
}
# list_all TAG [READY ARGS...]: every CLI of $CLIS lists its servers in $SB, all at once;
# output in $WORK/TAG.CLI. With READY, "READY TAG CLI ARGS..." says (0) whether that
# CLI's list shows what the phase waits for; a CLI whose list does not is listed again
# until it does or LIST_WAIT seconds have passed, and the expect that follows judges
# its last list. The hosts give their servers a fixed time to connect (droid 5 s for
# all, gemini 5 s each, tests/hosts/FINDINGS.md), which a stdio server starting on a
# loaded machine can miss; a list is only an observation, so listing again is safe.
list_all() {
    local tag=$1 c pid t end round=1 todo
    shift
    t=$(date +%s%N)
    end=$((t + LIST_WAIT * 1000000000))
    set_host_env
    mkdir -p "$WORK/pre-$tag"
    for h in $HOSTS; do cp -p "$(hostfile "$h")" "$WORK/pre-$tag/$h"; done
    todo=$CLIS
    while :; do
        for c in $todo; do
            list_one "$tag" "$c" &
            LIST_PIDS+=("$!")
        done
        for pid in "${LIST_PIDS[@]}"; do wait "$pid" || true; done
        LIST_PIDS=()
        [ $# -gt 0 ] || break
        local again=
        for c in $todo; do "$1" "$tag" "$c" "${@:2}" || again="$again $c"; done
        todo=${again# }
        if [ -z "$todo" ] || [ "$(date +%s%N)" -ge "$end" ]; then break; fi
        round=$((round + 1))
        note "[$tag] listing again (round $round, after $(since "$t")): $todo"
        sleep 1
    done
    [ -z "$todo" ] || [ $# = 0 ] || note "[$tag] still not ready after $(since "$t"): $todo"
    echo "[$tag] host lists took $(since "$t") ($(cat "$WORK/$tag".*.time | tr '\n' ' ' | sed 's/ $//'))"
    # listing is only an observation: undo anything a host wrote into its own file
    for h in $HOSTS; do
        if ! cmp -s "$WORK/pre-$tag/$h" "$(hostfile "$h")"; then
            note "$h's file changed while its CLI listed; restored"
            cp -p "$WORK/pre-$tag/$h" "$(hostfile "$h")"
        fi
    done
}

# list_shows TAG CLI NAME STATE: whether $WORK/TAG.CLI (exit 0) shows NAME in STATE
# (connected | listed | absent). Patterns are the CLIs' real output formats (see
# FINDINGS.md), ANSI stripped.
list_shows() {
    local tag=$1 c=$2 name=$3 state=$4 out=$WORK/$1.$2 re kind=stdio
    [[ $name == *http* ]] && kind=http
    [ "$(cat "$out.rc")" = 0 ] || return 1
    case $state in
        listed|absent)
            case $c in
                claude) re="^$name: " ;;
                codex) re="^$name +" ;;
                gemini) re="^[^ ]+ $name: " ;;
                opencode) re="^[^ ]+ +[^ ]+ $name " ;;
                droid) re="^  $name  " ;;
                qwen) re="^[^ ]+ $name: " ;;
                copilot) re="^  $name \\(" ;;
            esac ;;
        connected)
            case $c:$kind in
                claude:stdio) re="^$name: node .* - ✔ Connected\$" ;;
                claude:http) re="^$name: $NAMEPORT \\(HTTP\\) - ✔ Connected\$" ;;
                # codex mcp list never connects; for a URL its Auth column comes from an
                # OAuth-discovery probe: "Unsupported" = the server answered, "Unknown" = not
                codex:stdio) re="^$name +node +.* +enabled +Unsupported *\$" ;;
                codex:http) re="^$name +$NAMEPORT +- +enabled +Unsupported *\$" ;;
                gemini:stdio) re="^✓ $name: node .* \\(stdio\\) - Connected\$" ;;
                gemini:http) re="^✓ $name: $NAMEPORT \\(http\\) - Connected\$" ;;
                opencode:*) re="^[^ ]+ +✓ $name connected\$" ;;
                droid:stdio) re="^  $name  stdio  connected  \\[user\\]\$" ;;
                droid:http) re="^  $name  http  connected  \\[user\\]\$" ;;
                qwen:stdio) re="^✓ $name: node .* \\(stdio\\) - Connected\$" ;;
                qwen:http) re="^✓ $name: $NAMEPORT \\(http\\) - Connected\$" ;;
                # copilot mcp list never connects: the server listed with its transport
                # (type stdio is shown as "local"); filters.sh proves the connection
                copilot:stdio) re="^  $name \\(local\\)\$" ;;
                copilot:http) re="^  $name \\(http\\)\$" ;;
            esac ;;
    esac
    if [ "$state" = absent ]; then ! grep -Eq -- "$re" "$out"; else grep -Eq -- "$re" "$out"; fi
}
shows_connected() { # TAG CLI NAME...: a READY for list_all: every NAME connected
    local tag=$1 c=$2 n
    shift 2
    for n in "$@"; do list_shows "$tag" "$c" "$n" connected || return 1; done
}

# expect TAG CLI NAME STATE   STATE: connected | listed | absent (as list_shows)
expect() {
    local tag=$1 c=$2 name=$3 state=$4 out=$WORK/$1.$2 kind=stdio
    [[ $name == *http* ]] && kind=http
    if [ "$(cat "$out.rc")" != 0 ]; then
        fail "[$tag] $c mcp list: exit $(cat "$out.rc") (wanted $name $state)"
        show "$out"
        return
    fi
    local what="$state"
    [ "$c:$state" = codex:connected ] && { [ $kind = http ] && what="enabled and reachable" || what="enabled"; }
    [ "$c:$state" = copilot:connected ] && what="listed as $kind"
    if [ "$state" = absent ]; then
        if list_shows "$tag" "$c" "$name" absent; then pass "[$tag] $c: $name absent"; else fail "[$tag] $c: $name is still listed"; show "$out"; fi
    else
        if list_shows "$tag" "$c" "$name" "$state"; then pass "[$tag] $c: $name $what"; else fail "[$tag] $c: $name not $what"; show "$out"; fi
    fi
}

cursor_expect() { # TAG NAME... (present) ; names prefixed with ! must be absent
    local tag=$1 f
    f=$(hostfile cursor)
    shift
    if URL=$URL SE=$SE node -e '
        const doc = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const s = doc.mcpServers || {}; const bad = [];
        for (const n of process.argv.slice(2)) {
            if (n[0] === "!") { if (n.slice(1) in s) bad.push(n.slice(1) + " present"); }
            else if (!(n in s)) bad.push(n + " missing");
        }
        const h = s["everything-http"], st = s["everything-stdio"];
        if (h && h.url !== process.env.URL) bad.push("everything-http url " + h.url);
        if (st && (st.command !== "node" || JSON.stringify(st.args) !== JSON.stringify([process.env.SE, "stdio"])))
            bad.push("everything-stdio command/args");
        if (bad.length) { console.log(bad.join(", ")); process.exit(1); }' "$f" "$@" >"$WORK/$tag.cursor" 2>&1
    then
        pass "[$tag] cursor: mcp.json has $*"
    else
        fail "[$tag] cursor: mcp.json: $(head -c 300 "$WORK/$tag.cursor")"
    fi
}
