# shellcheck shell=bash
# The Cline CLI (npm `cline`, a Bun binary from @cline/cli-<platform>) for run.sh and
# literal.sh: source it after lib.sh. It has no `mcp list`; what it can do offline is
# run one prompt against a model: it starts every enabled server of
# ~/.cline/data/settings/cline_mcp_settings.json and offers their tools
# (SERVER__TOOL) in its first request. So a fake OpenAI-compatible model on loopback
# (tests/exec/fake-model.cjs) records that request, and a server counts as connected
# when its tools were offered. See tests/hosts/FINDINGS.md, "Cline".
#
# Sets CLINE_MODEL_PID (the sourcing script's exit trap kills it).

HOSTS="$HOSTS cline"
CLINE_MODEL_PID=

cline_file() { echo "$SB/.cline/data/settings/cline_mcp_settings.json"; }

# $1 = before | after | broken: the user's own server (with Cline's own extras), plus
# the two managed ones as verified (after), or in wrong shapes (broken: a url with no
# "type" is taken for SSE; args as a string rejects the whole file).
render_cline() {
    MODE_R=$1 SE=$SE URL=$URL node -e '
        const m = process.env.MODE_R, se = process.env.SE, url = process.env.URL;
        const s = { "my-own": { type: "stdio", command: "node", args: [se, "stdio"],
            env: { MY_OWN: "1" }, disabled: false, autoApprove: ["echo"], timeout: 60 } };
        if (m === "after") {
            s["everything-stdio"] = { type: "stdio", command: "node", args: [se, "stdio"], disabled: false };
            s["everything-http"] = { type: "streamableHttp", url: url, disabled: false };
        } else if (m === "broken") {
            s["everything-stdio"] = { type: "stdio", command: "node", args: se + " stdio" };
            s["everything-http"] = { url: url };
        }
        process.stdout.write(JSON.stringify({ mcpServers: s }, null, 2) + "\n");'
}

# Creates Cline's directory in the sandbox $1, so that mcpfleet finds the host. Its
# provider settings are written by `cline auth` once the fake model runs (a
# hand-written providers.json is not taken).
cline_seed() {
    [ -x "$BIN/cline" ] || { echo "missing $BIN/cline (delete $CACHE and retry)" >&2; exit 2; }
    mkdir -p "$1/.cline/data/settings"
}

cline_start_model() { # starts the fake model once; sets CLINE_MP (its port)
    [ -n "$CLINE_MODEL_PID" ] && return
    node "$HOSTS_DIR/../exec/fake-model.cjs" "$WORK/cline-model.port" "$WORK/cline-model.log" \
        >/dev/null 2>&1 &
    CLINE_MODEL_PID=$!
    for _ in $(seq 100); do [ -s "$WORK/cline-model.port" ] && break; sleep 0.1; done
    [ -s "$WORK/cline-model.port" ] || { echo "the fake model did not start" >&2; exit 2; }
    CLINE_MP=$(cat "$WORK/cline-model.port")
}

cline_providers() { # points Cline in $SB at the fake model, as a user would
    (cd "$SB" && "${host_env[@]}" CLINE_SESSION_BACKEND_MODE=local CLINE_NO_AUTO_UPDATE=1 \
        timeout "$TMO" "$BIN/cline" auth -p openai-compatible -k sk-fake -m fake-model \
        -b "http://127.0.0.1:$CLINE_MP/v1") </dev/null >"$WORK/cline-auth.out" 2>&1 ||
        { cat "$WORK/cline-auth.out" >&2; echo "cline auth failed" >&2; exit 2; }
}

# cline_run TAG [NAME...]: one prompt in $SB; the servers whose tools were offered go one
# a line to $WORK/TAG.cline. Local backend: no hub daemon is left behind. With NAMEs,
# a run that did not end or did not offer each NAME's tools is run again, for LIST_WAIT
# seconds at most (lib.sh): Cline gives a stdio server a few seconds to initialize,
# which a loaded machine can miss; cline_expect judges the last run.
cline_run() {
    local tag=$1 end
    shift
    end=$(($(date +%s) + LIST_WAIT))
    cline_run_once "$tag"
    while [ $# -gt 0 ] && ! cline_offered "$tag" "$@" && [ "$(date +%s)" -lt "$end" ]; do
        note "[$tag] cline did not offer the tools of each of $*; running it again"
        cline_run_once "$tag"
    done
}
cline_offered() { # TAG NAME...: the last run ended and offered each NAME's tools
    local tag=$1 n
    shift
    grep -q '"type":"run_result"' "$WORK/$tag.cline.raw" || return 1
    for n in "$@"; do grep -qx -- "$n" "$WORK/$tag.cline" || return 1; done
}
cline_run_once() { # TAG
    local tag=$1 t rc=0 f
    t=$(date +%s%N)
    f=$(cline_file)
    cp -p "$f" "$WORK/pre-$tag.cline" 2>/dev/null || true
    cline_start_model
    [ -f "$SB/.cline/data/settings/providers.json" ] || cline_providers
    : >"$WORK/cline-model.log"
    (cd "$SB" && "${host_env[@]}" CLINE_SESSION_BACKEND_MODE=local CLINE_NO_AUTO_UPDATE=1 \
        timeout "$TMO" "$BIN/cline" --json --retries 1 "say ok") \
        </dev/null >"$WORK/$tag.cline.raw" 2>&1 || rc=$?
    echo "$rc" >"$WORK/$tag.cline.rc"
    node -e '
        const fs = require("fs"), seen = new Set();
        for (const line of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
            if (!line) continue;
            let b = JSON.parse(line).body;
            if (typeof b === "string") { try { b = JSON.parse(b); } catch { continue; } }
            for (const t of (b && b.tools) || []) {
                const n = (t.function && t.function.name) || t.name || "";
                if (n.includes("__")) seen.add(n.split("__")[0]);
            }
        }
        console.log([...seen].join("\n"));' "$WORK/cline-model.log" >"$WORK/$tag.cline"
    # Cline logs why it skipped its settings file here, not on its output.
    grep -h '\[mcp\]' "$SB/.cline/data/logs/"*.log 2>/dev/null | tail -3 >"$WORK/$tag.cline.log" || true
    echo "[$tag] cline took $(since "$t") (offered: $(tr '\n' ' ' <"$WORK/$tag.cline"))"
    if [ -f "$WORK/pre-$tag.cline" ] && ! cmp -s "$WORK/pre-$tag.cline" "$f"; then
        note "cline's file changed while it ran; restored"
        cp -p "$WORK/pre-$tag.cline" "$f"
    fi
}

cline_expect() { # TAG NAME connected|absent
    local tag=$1 name=$2 state=$3 out=$WORK/$1.cline
    if ! grep -q '"type":"run_result"' "$out.raw"; then
        fail "[$tag] cline: no run result (exit $(cat "$out.rc"))"
        show "$out.raw"
        return
    fi
    if [ "$state" = absent ]; then
        if grep -qx -- "$name" "$out"; then fail "[$tag] cline: $name still offered"; else pass "[$tag] cline: $name absent"; fi
    elif grep -qx -- "$name" "$out"; then
        pass "[$tag] cline: $name connected (its tools offered to the model)"
    else
        fail "[$tag] cline: $name not connected"
        show "$out.log"
    fi
}
