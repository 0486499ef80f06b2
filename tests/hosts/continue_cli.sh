# shellcheck shell=bash
# Continue's CLI (npm @continuedev/cli, `cn`) for run.sh and literal.sh: source it after
# lib.sh. It
# reads only ~/.continue/config.yaml and has no `mcp list`; what it can do offline is
# run one prompt headless (`cn -p`) against the model of that file: it starts every
# server of its mcpServers list first and offers all their tools to the model, by the
# tools' own names (no server prefix). So a fake OpenAI-compatible model on loopback
# (tests/exec/fake-model.cjs) records that request: every server here is a
# server-everything, and the number of times its "echo" tool is offered is the number
# of servers that connected; the Streamable HTTP one also shows as requests in
# server-everything's own log. See tests/hosts/FINDINGS.md, "Continue CLI".
#
# Sets CN_MODEL_PID (the sourcing script's exit trap kills it).

HOSTS="$HOSTS continue-cli"
CN_MODEL_PID=

cn_file() { echo "$SB/.continue/config.yaml"; }

# Starts the fake model (its port goes into config.yaml's model) and creates cn's
# directory in the sandbox $1, so that mcpfleet finds the host.
cn_seed() {
    [ -f "$CACHE/node_modules/@continuedev/cli/dist/cn.js" ] ||
        { echo "missing @continuedev/cli (delete $CACHE and retry)" >&2; exit 2; }
    mkdir -p "$1/.continue"
    node "$HOSTS_DIR/../exec/fake-model.cjs" "$WORK/cn-model.port" "$WORK/cn-model.log" \
        >/dev/null 2>&1 &
    CN_MODEL_PID=$!
    for _ in $(seq 100); do [ -s "$WORK/cn-model.port" ] && break; sleep 0.1; done
    [ -s "$WORK/cn-model.port" ] || { echo "the fake model did not start" >&2; exit 2; }
    CN_MP=$(cat "$WORK/cn-model.port")
}

# $1 = before | after | broken: the user's file (name, version, a model, comments,
# their own server as a block item, rules after the list), plus the two managed
# servers as verified (after: one line of flow YAML each, as mcpfleet writes them), or
# in wrong shapes (broken: "type: http" is not one of cn's remote types and fails the
# whole file).
render_continue-cli() {
    cat <<EOF
# cn's own config (tests/hosts/continue_cli.sh)
name: Sandbox
version: 1.0.0
schema: v1
models:
  - name: fake
    provider: openai
    model: fake-model
    apiKey: sk-fake
    apiBase: http://127.0.0.1:$CN_MP/v1

mcpServers:
  # by hand
  - name: my-own
    command: node
    args:
      - $SE
      - stdio
    env:
      MY_OWN: "1"
EOF
    case $1 in
        after)
            printf '  - {"name": "everything-stdio", "type": "stdio", "command": "node", "args": ["%s", "stdio"]}\n' "$SE"
            printf '  - {"name": "everything-http", "type": "streamable-http", "url": "%s"}\n' "$URL"
            ;;
        broken)
            printf '  - {"name": "everything-stdio", "command": "node", "args": "%s stdio"}\n' "$SE"
            printf '  - {"name": "everything-http", "type": "http", "url": "%s"}\n' "$URL"
            ;;
    esac
    printf '\nrules:\n  - Answer briefly\n'
}

# The requests server-everything's HTTP side has logged so far (0 when it is not running).
cn_http_requests() {
    local n=0
    [ -f "$WORK/everything.log" ] && n=$(grep -c 'Received MCP' "$WORK/everything.log" || true)
    echo "${n:-0}"
}

# cn_run TAG [N]: one headless prompt in $SB; the number of servers whose tools were
# offered goes to $WORK/TAG.cn, the requests server-everything's HTTP side got
# meanwhile to $WORK/TAG.cn.http. With N, a run that did not answer or offered the
# tools of fewer than N servers (one still starting on a loaded machine) is run again,
# for LIST_WAIT seconds at most (lib.sh); cn_expect judges the last run.
cn_run() {
    local tag=$1 end
    end=$(($(date +%s) + LIST_WAIT))
    cn_run_once "$tag"
    while [ -n "${2:-}" ] && [ "$(date +%s)" -lt "$end" ]; do
        if [ "$(cat "$WORK/$tag.cn.rc")" = 0 ] && grep -qx ok "$WORK/$tag.cn.raw" &&
            [ "$(cat "$WORK/$tag.cn")" -ge "$2" ]; then
            return
        fi
        note "[$tag] cn did not offer the tools of $2 server(s); running it again"
        cn_run_once "$tag"
    done
}
cn_run_once() { # TAG
    local tag=$1 t rc=0 f before
    t=$(date +%s%N)
    f=$(cn_file)
    cp -p "$f" "$WORK/pre-$tag.cn" 2>/dev/null || true
    : >"$WORK/cn-model.log"
    before=$(cn_http_requests)
    (cd "$SB" && "${host_env[@]}" CONTINUE_CLI_ENABLE_TELEMETRY=0 CONTINUE_METRICS_ENABLED=0 \
        timeout "$TMO" node "$CACHE/node_modules/@continuedev/cli/dist/cn.js" -p "say ok") \
        </dev/null >"$WORK/$tag.cn.raw" 2>&1 || rc=$?
    echo "$rc" >"$WORK/$tag.cn.rc"
    echo $(($(cn_http_requests) - before)) >"$WORK/$tag.cn.http"
    node -e '
        const fs = require("fs");
        let most = 0;
        for (const line of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
            if (!line) continue;
            const b = JSON.parse(line).body;
            const n = ((b && b.tools) || []).filter((t) => t.function && t.function.name === "echo").length;
            most = Math.max(most, n);
        }
        console.log(most);' "$WORK/cn-model.log" >"$WORK/$tag.cn"
    echo "[$tag] cn took $(since "$t") (servers offered: $(cat "$WORK/$tag.cn"), HTTP requests: $(cat "$WORK/$tag.cn.http"))"
    if [ -f "$WORK/pre-$tag.cn" ] && ! cmp -s "$WORK/pre-$tag.cn" "$f"; then
        note "cn's file changed while it ran; restored"
        cp -p "$WORK/pre-$tag.cn" "$f"
    fi
}

cn_expect() { # TAG SERVERS used|unused: that many servers connected; the HTTP one or not
    local tag=$1 want=$2 http=$3 out=$WORK/$1.cn got
    got=$(cat "$out")
    if [ "$(cat "$out.rc")" != 0 ] || ! grep -qx ok "$out.raw"; then
        fail "[$tag] cn: no answer (exit $(cat "$out.rc"))"
        show "$out.raw"
        return
    fi
    if [ "$got" = "$want" ]; then
        pass "[$tag] cn: $want server(s) connected (their tools offered to the model)"
    else
        fail "[$tag] cn: $got server(s) connected, expected $want"
        show "$out.raw"
    fi
    if [ "$http" = used ] && [ "$(cat "$out.http")" -gt 0 ]; then
        pass "[$tag] cn: everything-http connected over Streamable HTTP"
    elif [ "$http" = unused ] && [ "$(cat "$out.http")" = 0 ]; then
        pass "[$tag] cn: everything-http not connected"
    else
        fail "[$tag] cn: everything-http $( [ "$http" = used ] && echo "not connected" || echo "still connected")"
    fi
}
