#!/bin/sh
# hook-mail.sh: a passerelle hook that mails the duty officer.
#
# agent.cfg:
#   hook
#       name = duty-mail
#       types = risk_escalation,notice
#       min-risk = high
#       command = "/usr/local/share/passerelle/examples/hook-mail.sh"
#       env = MAIL_TO
#
# The mail carries what the agent puts in PASSERELLE_* variables (type, case
# reference, risk, publisher, categories), never the payload: mail is not
# end-to-end encrypted, and the case reference is enough to open the case
# in the case system. Sends with sendmail, else mail(1); with neither, prints
# what it would send (to the hook's log). A non-zero exit makes the agent
# try again later.
set -eu

to=${MAIL_TO:-duty@localhost}
cat > /dev/null                     # the delivery's JSON: not mailed

if [ "${PASSERELLE_TYPE:-}" = notice ]; then
    subject="passerelle notice: ${PASSERELLE_KIND:-?} on case ${PASSERELLE_CASE:-?}"
else
    subject="passerelle: ${PASSERELLE_TYPE:-?} (risk ${PASSERELLE_RISK:-none}) on case ${PASSERELLE_CASE:-?}"
fi
body=$(cat <<TEXT
A delivery needs attention.

  type:        ${PASSERELLE_TYPE:-}
  kind:        ${PASSERELLE_KIND:-}
  case:        ${PASSERELLE_CASE:-}
  risk:        ${PASSERELLE_RISK:-}
  from:        ${PASSERELLE_PUBLISHER:-${PASSERELLE_AGENCY:-}}
  categories:  ${PASSERELLE_CATEGORIES:-}
  id:          ${PASSERELLE_EVENT_ID:-${PASSERELLE_NOTICE_ID:-}}

Open the case in the case system to read it.
TEXT
)

if [ -x /usr/sbin/sendmail ]; then
    printf 'To: %s\nSubject: %s\n\n%s\n' "$to" "$subject" "$body" | /usr/sbin/sendmail -t
elif command -v mail >/dev/null 2>&1; then
    printf '%s\n' "$body" | mail -s "$subject" "$to"
else
    printf 'would mail %s\nSubject: %s\n\n%s\n' "$to" "$subject" "$body"
fi
