#!/usr/bin/env bash
# case-system.sh: a tiny "case system" on passerelle's spool folders.
#
# What a real agency system does through the agent's folders, in a page of
# bash: drop referrals into one agency's spool outbox, see what became of
# them, and read what lands in another agency's spool inbox as a case list.
# It never talks to the agent directly: the folders are the whole interface.
#
#   case-system.sh refer  OUTBOX CASE-REF TO-AGENCY "note"   drop a referral
#   case-system.sh sent   OUTBOX                            what became of them
#   case-system.sh cases  INBOX                             take new deliveries,
#                                                           print the case list
#
# Needs jq or python3 (JSON). Case references are pseudonymous: never a name.
set -euo pipefail

die () { echo "case-system: $*" >&2; exit 1; }

# A JSON string literal for arbitrary text (quotes, newlines, accents).
json_string () {
    if command -v jq >/dev/null; then printf '%s' "$1" | jq -Rs .
    else python3 -c 'import json,sys; print(json.dumps(sys.argv[1]), end="")' "$1"
    fi
}

# Field of a JSON file ("" when absent); lists are comma-joined.
json_get () {
    if command -v jq >/dev/null; then
        jq -r --arg k "$2" '.[$k] // "" | if type == "array" then join(",") else tostring end' "$1"
    else
        python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
print(",".join(v) if isinstance(v, list) else v)
PY
    fi
}

refer () {
    local outbox=$1 case_ref=$2 to=$3 note=${4:-}
    [[ -d $outbox ]] || die "no outbox folder $outbox (is spool/outbox set in agent.cfg?)"
    [[ $case_ref =~ ^[A-Za-z0-9_.:/-]{1,128}$ ]] || die "case reference: [A-Za-z0-9_.:/-], pseudonymous"
    local name; name="referral-$(date -u +%Y%m%dT%H%M%S)-$$.json"
    # Written under a temporary name, then renamed: the agent never sees half a file
    cat > "$outbox/.$name.tmp" <<JSON
{
  "type": "referral",
  "case": $(json_string "$case_ref"),
  "to": [$(json_string "$to")],
  "categories": ["identity", "referral"],
  "purpose": "referral",
  "basis": "legal_obligation",
  "justification": "court order",
  "risk": "high",
  "payload": $(json_string "$note")
}
JSON
    mv "$outbox/.$name.tmp" "$outbox/$name"
    echo "dropped $name for $to (case $case_ref)"
}

sent () {
    local outbox=$1 f
    shopt -s nullglob
    for f in "$outbox"/sent/*.result.json; do
        printf '%-45s sent    event %s\n' "$(basename "${f%.result.json}")" \
            "$(json_get "$f" event_id)"
    done
    for f in "$outbox"/failed/*.error; do
        printf '%-45s FAILED  %s\n' "$(basename "${f%.error}")" "$(head -n 1 "$f")"
    done
    for f in "$outbox"/*.json "$outbox"/processing/*.json; do
        [[ $f == *.result.json ]] || printf '%-45s waiting\n' "$(basename "$f")"
    done
}

cases () {
    local inbox=$1 f
    [[ -d $inbox ]] || die "no inbox folder $inbox (is spool/inbox set in agent.cfg?)"
    mkdir -p "$inbox/taken"
    shopt -s nullglob
    # Take new deliveries: moving them out tells nobody anything, it only
    # keeps the inbox folder for what is new
    for f in "$inbox"/*.json; do mv "$f" "$inbox/taken/"; done
    printf '%-6s %-16s %-16s %-16s %-8s %s\n' SEQ CASE TYPE FROM RISK NOTE
    for f in "$inbox"/taken/*.json; do
        local type; type=$(json_get "$f" type)
        if [[ $type == notice ]]; then
            printf '%-6s %-16s %-16s %-16s %-8s %s\n' "$(json_get "$f" seq)" \
                "$(json_get "$f" case)" "notice" "broker" "-" \
                "$(json_get "$f" kind): $(json_get "$f" text)"
        else
            printf '%-6s %-16s %-16s %-16s %-8s %s\n' "$(json_get "$f" seq)" \
                "$(json_get "$f" case)" "$type" "$(json_get "$f" publisher)" \
                "$(json_get "$f" risk)" "$(json_get "$f" payload | head -n 1 | cut -c1-60)"
        fi
    done
}

case ${1:-} in
    refer) [[ $# -ge 4 ]] || die "usage: $0 refer OUTBOX CASE-REF TO-AGENCY [note]"; shift; refer "$@" ;;
    sent)  [[ $# -eq 2 ]] || die "usage: $0 sent OUTBOX"; sent "$2" ;;
    cases) [[ $# -eq 2 ]] || die "usage: $0 cases INBOX"; cases "$2" ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; [[ ${1:-} =~ ^(-h|--help)$ ]] ;;
esac
