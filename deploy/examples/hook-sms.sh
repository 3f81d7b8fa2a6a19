#!/bin/sh
# hook-sms.sh: a passerelle hook that texts the duty phone through an SMS
# gateway's HTTP API.
#
# agent.cfg:
#   hook
#       name = duty-sms
#       types = risk_escalation
#       min-risk = high
#       command = "/usr/local/share/passerelle/examples/hook-sms.sh"
#       timeout = 15s
#       env = SMS_GATEWAY_URL,SMS_GATEWAY_TOKEN,SMS_TO
#
# The gateway's URL, token and the number come from the agent's environment
# (e.g. a systemd EnvironmentFile readable by the agent's user only), passed
# through by 'env' above: nothing is written in this script or in agent.cfg.
# The token goes to curl on its standard input, so it never shows in ps.
# The text says what and where, never the payload. A gateway error makes the
# script exit non-zero and the agent retries with backoff.
set -eu

: "${SMS_GATEWAY_URL:?set SMS_GATEWAY_URL (passed with env = ... in agent.cfg)}"
: "${SMS_GATEWAY_TOKEN:?set SMS_GATEWAY_TOKEN}"
: "${SMS_TO:?set SMS_TO, the duty phone number}"
cat > /dev/null                     # the delivery's JSON: not sent

text="passerelle: ${PASSERELLE_TYPE:-?} risk ${PASSERELLE_RISK:-none} case ${PASSERELLE_CASE:-?} from ${PASSERELLE_PUBLISHER:-?}. Open the case system."

printf 'header = "Authorization: Bearer %s"\n' "$SMS_GATEWAY_TOKEN" |
    curl --silent --show-error --fail --max-time 10 --config - \
         --data-urlencode "to=$SMS_TO" --data-urlencode "text=$text" "$SMS_GATEWAY_URL"
echo "sms sent to the duty phone for ${PASSERELLE_EVENT_ID:-?}"
