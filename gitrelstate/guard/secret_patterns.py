"""The patterns of :mod:`gitrelstate.guard.secrets`: the names that hold credentials, the
shapes of values that are none, the known token formats, URL user info, named values
(``NAME=VALUE``, ``Name: value``) and webhook URLs. Data only; the rules that use them,
and why, are in ``secrets``.

Every repetition that can meet hostile text is bounded, so no pattern rescans a long
text once per position (tests/reliability/test_threat_secrets.py, linear on hostile text).
"""

from __future__ import annotations

import re

# -- names ---------------------------------------------------------------------------

# Checked against each word of the upper-cased name (split at '_', '-', '.').
# Word-wise so that TOKENIZERS_PARALLELISM, KEYBOARD or GIT_AUTHOR_NAME are not
# secrets, while API_KEY, GITHUB_TOKEN, apiKey and OAUTH_CLIENT are.
SECRET_WORD = re.compile(
    r".*(SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|COOKIE|APIKEY).*"
    r"|.*TOKEN|TOKENS|.*KEY|KEYS|O?AUTH[NZ]?|AUTHORI[SZ]ATION|PASS|PWD|PW|SALT|DSN|SAS"
    r"|SIGNATURE|SIG"
)
SECRET_NAME = re.compile(r"CONNECTION_?STR(ING)?|CONNSTR")
# PWD and OLDPWD are folders that every shell sets, not passwords.
NOT_SECRET = frozenset({"PWD", "OLDPWD"})
# Names that say the value IS the credential, whatever it looks like. Other secret
# names (KEY, SALT, SIGNATURE, OAUTH_CLIENT...) name credentials only sometimes
# (``sort_key``, ``--key 2``): their value must also look like one.
STRONG_NAME = re.compile(
    r"SECRET|PASSW|PASSPHRASE|CREDENTIAL|APIKEY|API_KEY|ACCESS_?KEY|PRIVATE_?KEY"
    r"|AUTHORI[SZ]ATION|COOKIE|(^|_)(PASS|PWD|PW|AUTH)(_|$)|TOKEN(_|$)"
)
# A last word that describes the credential instead of being it: API_KEY_FILE holds a
# path, OAUTH_CLIENT_ID an identifier, TOKEN_TYPE a word, --max-tokens a number.
DESCRIPTOR = (
    " FILE FILES PATH DIR FOLDER NAME ID IDS TYPE KIND LEN LENGTH SIZE COUNT NUM MAX MIN LIMIT"
    " ENV VAR FIELD COLUMN COL PREFIX SUFFIX FORMAT MODE POLICY ALGORITHM ALG TTL EXPIRY"
    " EXPIRES LOCATION ENDPOINT HOST PORT URI SOURCE PROVIDER STORE BACKEND REGION USER"
    " USERNAME LOGIN HELPER COMMAND CMD SCHEME METHOD VERSION STRATEGY "
)


# -- values --------------------------------------------------------------------------

# One word of 8+ characters with a digit, mixed case or punctuation: not 'utf-8',
# 'timestamp_column' or a '${VAR}' reference.
CREDENTIAL_SHAPE = re.compile(r"\S{8,}")
PLAIN_WORD = re.compile(r"[a-z_.-]+|[A-Z_.-]+|[A-Za-z][a-z]+(?:[-_.][A-Za-z][a-z]+)*")
# What stands for a value without being one: $VAR, ${VAR}, <value>, [PAD], {{ x }},
# %(x)s, ***, xxx.
REFERENCE = re.compile(
    r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^<>]*>|\[[^\[\]]*\]|\{\{.*\}\}|%\(?\w+\)?s|\*+|x+|X+",
    re.DOTALL,
)
# Booleans, numbers, versions and very short values are settings (--key 2, salt: no).
SETTING = re.compile(
    r"true|false|True|False|none|None|null|yes|no|-?[0-9]+(\.[0-9]+)?|.{0,3}"
    r"|v?[0-9]+(\.[0-9]+)+([.+-][0-9A-Za-z.+-]*)?",  # a version: 2.40.0, 2.1.0+cu121
    re.DOTALL,
)
DIGESTS = ("blake3:", "blake3-keyed:", "sha256:", "unkeyed")


# Well-known credential formats, found anywhere in a text: what, the literal parts one of
# which a match holds (a cheap test before the pattern runs), the pattern.
TOKENS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    (
        "an AWS access key id",
        ("AKIA", "ASIA"),
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])"),
    ),
    (
        "a private key",
        ("PRIVATE KEY",),
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]{0,16384}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)"
        ),
    ),
    (
        "a GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ),
    (
        "a GitLab token",
        ("glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glcbt-"),
        re.compile(r"\bgl(?:pat|dt|rt|ptt|ft|cbt)-[A-Za-z0-9_-]{20,}"),
    ),
    ("a Slack token", ("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Google OAuth token", ("ya29.",), re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}")),
    (
        "an API secret key",
        ("sk-",),
        re.compile(r"\bsk-(?:ant-|proj-)?(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{32,}"),
    ),
    ("a Stripe key", ("k_live_", "k_test_"), re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("a Hugging Face token", ("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("a PyPI token", ("pypi-AgE",), re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{20,}")),
    ("an npm token", ("npm_",), re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("a SendGrid key", ("SG.",), re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}")),
    (
        "a JSON web token",
        ("eyJ",),
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
)
# What follows "scheme://" when it is user info: user, maybe ":password", then "@". The
# password may hold '/' (redis://:p/w@h); 'host:443/path@x' is a port and a path, not a
# password (see _userinfo).
AFTER_SCHEME = re.compile(r"(?P<user>[^\s/?#@:\[\]]{0,256})(?::(?P<password>[^\s@]{0,256}))?@")
PORT_THEN_PATH = re.compile(r"[0-9]{1,5}(?:[/?#].*)?", re.DOTALL)
USERINFO_REACH = 520  # the most user info there can be after "://"
# NAME=VALUE: URL queries (?access_token=), JDBC and connection strings (;password=,
# AccountKey=), command-line words (--password=Y, TOKEN=Y).
PAIR = re.compile(
    r"(?<![A-Za-z0-9_.-])-{0,2}(?P<name>[A-Za-z_][A-Za-z0-9_.-]{0,63})=(?P<value>[^\s&;#,'\"]*)"
)
# Name: value, as in HTTP headers and YAML-like text ("Authorization: Bearer x").
HEADER = re.compile(
    r"(?<![A-Za-z0-9_-])(?P<name>[A-Za-z][A-Za-z0-9_-]{0,63}):[ \t]+"
    r"(?:(?i:bearer|basic|token|bot|digest)[ \t]+)?(?P<value>[^\s,;'\"]+)"
)
JSON_PAIR = re.compile(r'"(?P<name>[^"\\\s]{1,64})"[ \t]{0,8}:[ \t]{0,8}"(?P<value>[^"\\]*)"')
BEARER = re.compile(r"(?i)\bbearer[ \t]{1,8}(?P<value>[A-Za-z0-9._~+/-]{8,}=*)")
# Webhook URLs whose path is the credential: whoever has it may post.
WEBHOOK = re.compile(
    r"(?i)https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/"
    r"|[a-z0-9.-]{0,253}\.webhook\.office\.com/"
    r"|outlook\.office(?:365)?\.com/webhook/"
    r"|hooks\.zapier\.com/hooks/catch/"
    r"|api\.telegram\.org/bot"
    r"|maker\.ifttt\.com/trigger/[^/\s]+/with/key/"
    r")(?P<value>[^\s?#'\"]{1,512})"
)
# Self-hosted chat webhooks (Mattermost, Rocket.Chat, ...): .../hooks/<token>.
HOOK_PATH = re.compile(
    r"https?://[^\s/]{1,253}/(?:[^\s?#]{0,512}/)?(?:web-?hooks?|hooks)/"
    r"(?P<value>[^\s/?#'\"]{16,512})",
    re.IGNORECASE,
)
# A command-line flag: -k, --api-key.
FLAG = re.compile(r"-{1,2}(?P<name>[A-Za-z][A-Za-z0-9_.-]*)")
