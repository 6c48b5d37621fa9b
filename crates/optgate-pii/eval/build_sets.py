#!/usr/bin/env python3
"""Builds the personal-data evaluation sets, dev.jsonl and test.jsonl, from
sources that optgate's authors did not write (SOURCES.md says which, at which
commit, under which licence).

Every source item (a sentence, a number, an address, a host name, a cue
phrase) belongs to exactly one part, chosen by a hash of the item, so a
scanner tuned on the development part has never seen a test item, nor a
test cue phrase. test.jsonl is frozen: optgate's tests check its SHA-256.

    python build_sets.py --src DIR --out DIR

DIR holds the sources as fetch_sources.sh lays them out. Needs
python-stdnum and phonenumbers at the versions in requirements-build.txt.
"""

import argparse
import hashlib
import json
import random
import re
import unicodedata
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType
import stdnum
import stdnum.iban
import stdnum.isbn
import stdnum.luhn
import stdnum.util

LANGS = ["fr", "de", "es", "it", "nl", "pl", "pt", "en"]
LANG_COUNTRY = {"fr": "FR", "de": "DE", "es": "ES", "it": "IT", "nl": "NL", "pl": "PL", "pt": "PT", "en": "GB"}
COUNTRY_LANG = {v: k for k, v in LANG_COUNTRY.items()}
COUNTRY_LANG.update({"US": "en", "IE": "en", "BE": "fr", "AT": "de", "CH": "de", "LU": "fr"})
SALT = "optgate-pii-eval-2026-12"


def key(value: str) -> str:
    """A value compacted for the split: letters and digits, upper case, so
    that one value written two ways lands in one part."""
    return "".join(c for c in value.upper() if c.isalnum())


def part_of(item: str) -> str:
    """'dev' or 'test', by a hash of the item: the same item always lands
    in the same part."""
    h = hashlib.sha256((SALT + "\0" + item).encode()).digest()
    return "test" if h[0] & 1 else "dev"


class Text:
    """A text built piece by piece, with UTF-8 byte offsets of labels."""

    def __init__(self):
        self.s = ""
        self.labels = []

    def add(self, piece, entity=None, what=None, detail=""):
        start = len(self.s.encode())
        self.s += piece
        if what is not None:
            lab = {"start": start, "end": len(self.s.encode()), "what": what}
            if entity:
                lab["entity"] = entity
            if detail:
                lab["detail"] = detail
            self.labels.append(lab)
        return self

    def case(self, lang, region):
        c = {"lang": lang}
        if region:
            c["region"] = region
        c["text"] = self.s
        c["labels"] = self.labels
        return c


# ---------------------------------------------------------------- sentences

NO_SPACE_BEFORE = {",", ".", ";", ":", ")", "!", "?", "%", "]", "»"}
NO_SPACE_AFTER = {"(", "[", "«", "¿", "¡"}


def read_conllu(path):
    """Sentences of a WikiNEuRal file: (tokens, tags)."""
    sents, toks, tags = [], [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if toks:
                sents.append((toks, tags))
            toks, tags = [], []
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            toks.append(parts[1])
            tags.append(parts[2])
    if toks:
        sents.append((toks, tags))
    return sents


def detokenize(toks, tags):
    """Joins tokens into text; returns the text and the byte ranges of PER
    entities."""
    t = Text()
    spans = []
    cur = None
    prev = None
    for tok, tag in zip(toks, tags):
        if prev is not None and tok not in NO_SPACE_BEFORE and prev not in NO_SPACE_AFTER and not prev.endswith("'") and not prev.endswith("’"):
            t.add(" ")
        start = len(t.s.encode())
        t.add(tok)
        end = len(t.s.encode())
        if tag == "B-PER" or (tag == "I-PER" and cur is None):
            if cur:
                spans.append(cur)
            cur = [start, end]
        elif tag == "I-PER":
            cur[1] = end
        else:
            if cur:
                spans.append(cur)
            cur = None
        prev = tok
    if cur:
        spans.append(cur)
    return t.s, spans


def load_sentences(src):
    """Per part and language: carrier/clean sentences (no person) and
    sentences with persons. A sentence's part is its hash's."""
    out = {p: {l: {"plain": [], "people": []} for l in LANGS} for p in ("dev", "test")}
    for lang in LANGS:
        for f in ("val", "test"):
            for toks, tags in read_conllu(src / "wikineural" / f"{lang}.{f}.conllu"):
                text, spans = detokenize(toks, tags)
                if len(text) < 25 or len(text) > 400:
                    continue
                p = part_of("sentence:" + text)
                kind = "people" if spans else "plain"
                out[p][lang][kind].append((text, spans))
    return out


# -------------------------------------------------------------- cue phrases
# Cue phrases are the one part of the sets written here. Each is assigned to
# a part by its hash, so the test part's phrasings are unseen in the dev part.

CUES = {
    "phone": {
        "fr": ["Appelle-moi au", "mon numéro :", "Tél.", "joignable au", "contactez-moi au", "mon portable c'est le", "tel :", "numéro de téléphone :", "appelez le", "Mobile :"],
        "de": ["Ruf mich an unter", "Tel.", "meine Nummer:", "Handy:", "erreichbar unter", "Telefon:", "ruft an:", "Mobil", "Telefonnummer:", "meldet euch unter"],
        "es": ["llámame al", "mi número es el", "Tel.", "teléfono:", "escríbeme por WhatsApp al", "móvil:", "contacto:", "llamad al", "mi celular", "número:"],
        "it": ["chiamami al", "il mio numero è", "Tel.", "cellulare:", "contattami al", "telefono:", "scrivimi su WhatsApp al", "numero:", "chiamate il", "cell."],
        "nl": ["bel me op", "mijn nummer is", "Tel.", "mobiel:", "telefoon:", "bereikbaar op", "app me op", "nummer:", "bel gerust", "tel:"],
        "pl": ["zadzwoń", "mój numer to", "Tel.", "telefon:", "komórka:", "dzwońcie pod", "kontakt:", "numer:", "napisz na WhatsApp", "tel. kom."],
        "pt": ["liga-me para o", "o meu número é", "Tel.", "telemóvel:", "contacto:", "telefone:", "liguem para", "número:", "manda mensagem para o", "ligue"],
        "en": ["call me on", "my number is", "Tel.", "phone:", "text me at", "mobile:", "reach me at", "whatsapp me on", "ring", "cell:"],
    },
    "national_id": {
        "fr": ["mon numéro de sécurité sociale est", "numéro INSEE :", "NIR :", "mon numéro d'identité :", "n° de sécu", "numéro national :"],
        "de": ["meine Steuer-ID ist", "Steuer-ID:", "Identifikationsnummer:", "meine Ausweisnummer:", "IdNr.", "Personalnummer:"],
        "es": ["mi DNI es", "DNI:", "NIE:", "número de identidad:", "mi NIF es", "documento:"],
        "it": ["il mio codice fiscale è", "codice fiscale:", "CF:", "numero di identità:", "il mio CF", "cod. fisc."],
        "nl": ["mijn BSN is", "BSN:", "burgerservicenummer:", "sofinummer:", "mijn BSN-nummer", "identiteitsnummer:"],
        "pl": ["mój PESEL to", "PESEL:", "nr PESEL", "numer identyfikacyjny:", "mój numer PESEL", "numer ewidencyjny:"],
        "pt": ["o meu número de identificação é", "NIF:", "cartão de cidadão:", "n.º de contribuinte:", "número de identidade:", "o meu NIF"],
        "en": ["my ID number is", "national insurance number:", "NINO:", "my SSN is", "ID no.", "personal number:"],
    },
    "card": {
        "fr": ["ma carte :", "carte bancaire", "CB :", "numéro de carte"],
        "de": ["meine Karte:", "Kreditkarte", "Kartennummer:", "Karte"],
        "es": ["mi tarjeta:", "tarjeta", "número de tarjeta:", "tarjeta de crédito"],
        "it": ["la mia carta:", "carta di credito", "numero carta:", "carta"],
        "nl": ["mijn kaart:", "creditcard", "kaartnummer:", "pas"],
        "pl": ["moja karta:", "karta kredytowa", "numer karty:", "karta"],
        "pt": ["o meu cartão:", "cartão de crédito", "número do cartão:", "cartão"],
        "en": ["my card:", "credit card", "card number:", "card no"],
    },
    "iban": {
        "fr": ["IBAN :", "virement sur", "mon RIB :", "compte"],
        "de": ["IBAN:", "überweist an", "Konto:", "Bankverbindung"],
        "es": ["IBAN:", "transferencia a", "cuenta:", "mi cuenta"],
        "it": ["IBAN:", "bonifico su", "conto:", "il mio IBAN"],
        "nl": ["IBAN:", "overmaken naar", "rekening:", "rekeningnummer"],
        "pl": ["IBAN:", "przelew na", "konto:", "numer konta"],
        "pt": ["IBAN:", "transferência para", "conta:", "o meu IBAN"],
        "en": ["IBAN:", "transfer to", "account:", "pay into"],
    },
    "email": {
        "fr": ["écrivez-moi à", "mail :", "contact :", "mon adresse"],
        "de": ["schreib mir an", "Mail:", "Kontakt:", "meine Adresse"],
        "es": ["escríbeme a", "correo:", "contacto:", "mi correo"],
        "it": ["scrivimi a", "mail:", "contatto:", "la mia email"],
        "nl": ["mail me op", "e-mail:", "contact:", "mijn adres"],
        "pl": ["napisz na", "mail:", "kontakt:", "mój adres"],
        "pt": ["escreve-me para", "email:", "contacto:", "o meu email"],
        "en": ["email me at", "mail:", "contact:", "drop a line to"],
    },
    "ip": {
        "fr": ["mon serveur est en", "IP :", "adresse IP", "connecté depuis"],
        "de": ["mein Server läuft auf", "IP:", "IP-Adresse", "verbunden von"],
        "es": ["mi servidor está en", "IP:", "dirección IP", "conectado desde"],
        "it": ["il mio server è su", "IP:", "indirizzo IP", "connesso da"],
        "nl": ["mijn server draait op", "IP:", "IP-adres", "verbonden vanaf"],
        "pl": ["mój serwer jest na", "IP:", "adres IP", "połączenie z"],
        "pt": ["o meu servidor está em", "IP:", "endereço IP", "ligado a partir de"],
        "en": ["my server is at", "IP:", "IP address", "logged in from"],
    },
    "url": {
        "fr": ["suivez-moi sur", "mon profil :", "retrouvez-moi ici", "abonnez-vous"],
        "de": ["folgt mir auf", "mein Profil:", "hier findet ihr mich", "abonniert"],
        "es": ["sígueme en", "mi perfil:", "encuéntrame en", "suscríbete"],
        "it": ["seguimi su", "il mio profilo:", "mi trovate qui", "iscriviti"],
        "nl": ["volg me op", "mijn profiel:", "je vindt me hier", "abonneer"],
        "pl": ["obserwuj mnie na", "mój profil:", "znajdziecie mnie tu", "subskrybuj"],
        "pt": ["segue-me em", "o meu perfil:", "encontra-me aqui", "subscreve"],
        "en": ["follow me at", "my profile:", "find me here", "subscribe"],
    },
    "address": {
        "fr": ["j'habite au", "mon adresse :", "livraison au", "passez chez moi,"],
        "de": ["ich wohne in der", "Adresse:", "Lieferung an", "kommt vorbei:"],
        "es": ["vivo en", "mi dirección:", "envío a", "pasad por"],
        "it": ["abito in", "indirizzo:", "spedire a", "passate da"],
        "nl": ["ik woon op", "adres:", "bezorgen op", "kom langs op"],
        "pl": ["mieszkam przy", "adres:", "dostawa na", "wpadnij na"],
        "pt": ["moro na", "morada:", "entrega em", "passem pela"],
        "en": ["I live at", "address:", "deliver to", "come over to"],
    },
}


def cues(kind, lang, part):
    cs = [c for c in CUES[kind][lang] if part_of(f"cue:{kind}:{lang}:{c}") == part]
    return cs or CUES[kind][lang][:1] if part == "dev" else cs or CUES[kind][lang][-1:]


# ------------------------------------------------------------------ sources

def doctest_blocks(path):
    """The `numbers = '''...'''` blocks of a python-stdnum doctest, with
    whether the test asserts them valid (True) or invalid (False)."""
    text = Path(path).read_text(encoding="utf-8")
    out = []
    for m in re.finditer(r">>> numbers = '''\n(.*?)\n\.\.\. '''\n>>> (.*?)\n", text, re.S):
        body, check = m.group(1), m.group(2)
        nums = [l[4:].strip() for l in body.splitlines() if l.startswith("... ") and l[4:].strip()]
        valid = " not " in check
        out.append((valid, nums))
    return out


def docstring_examples(path):
    """Numbers passed to validate()/is_valid() in a module's docstring whose
    shown result is not an exception or False."""
    text = Path(path).read_text(encoding="utf-8")
    out = []
    for m in re.finditer(r">>> (?:validate|is_valid|compact)\('([^']+)'\)\n(.*)\n", text):
        if "Traceback" in m.group(2) or m.group(2).strip() == "False":
            continue
        out.append(m.group(1))
    return out


# Personal national numbers of EU countries (and the UK and US where
# python-stdnum has one), as python-stdnum names them.
ID_MODULES = [
    ("at", "vnr"), ("be", "nn"), ("be", "bis"), ("bg", "egn"), ("cz", "rc"), ("de", "idnr"),
    ("dk", "cpr"), ("ee", "ik"), ("es", "dni"), ("es", "nie"), ("fi", "hetu"), ("fr", "nir"),
    ("gr", "amka"), ("hr", "oib"), ("ie", "pps"), ("it", "codicefiscale"), ("lt", "asmens"),
    ("nl", "bsn"), ("pl", "pesel"), ("pt", "cc"), ("pt", "nif"), ("ro", "cnp"),
    ("se", "personnummer"), ("si", "emso"), ("sk", "rc"), ("us", "ssn"),
]


def module(cc, name):
    return __import__(f"stdnum.{cc}.{name}", fromlist=[name])


def mutate_valid(mod, seed_number, rng, want, tries=20000):
    """More valid numbers like `seed_number`: its digits randomised until
    python-stdnum accepts the result."""
    out = set()
    for _ in range(tries):
        if len(out) >= want:
            break
        chars = list(seed_number)
        for i, ch in enumerate(chars):
            if ch.isdigit() and rng.random() < 0.5:
                chars[i] = str(rng.randrange(10))
        cand = "".join(chars)
        if cand != seed_number and mod.is_valid(cand):
            out.add(cand)
    return sorted(out)


def national_ids(src, rng):
    """Per module: valid numbers from python-stdnum's tests and docstrings,
    plus numbers made valid by python-stdnum from them."""
    ids = {}
    for cc, name in ID_MODULES:
        mod = module(cc, name)
        found = []
        t = src / "stdnum-src" / "tests" / f"test_{cc}_{name}.doctest"
        if t.exists():
            for valid, nums in doctest_blocks(t):
                if valid:
                    found += nums
        found += docstring_examples(src / "stdnum-src" / "stdnum" / cc / f"{name}.py")
        found = sorted({n for n in found if mod.is_valid(n)})
        if len(found) > 30:
            found = sorted(rng.sample(found, 30))
        made = []
        if found:
            per_seed = -(-(48 - len(found)) // min(len(found), 6))
            for seed in found[:6]:
                made += mutate_valid(mod, seed, rng, per_seed)
        ids[f"{cc}_{name}"] = (found, sorted(set(made) - set(found)))
    return ids


def bad_check(number, rng):
    """The number with its last digit changed: a mistyped id."""
    idx = [i for i, c in enumerate(number) if c.isdigit()]
    if not idx:
        return None
    i = idx[-1]
    d = (int(number[i]) + rng.randrange(1, 10)) % 10
    return number[:i] + str(d) + number[i + 1:]


def ibans(src):
    out = []
    for valid, nums in doctest_blocks(src / "stdnum-src" / "tests" / "test_iban.doctest"):
        if valid:
            out += [n for n in nums if stdnum.iban.is_valid(n)]
    return sorted(set(out))


def isbns(src):
    out = []
    for valid, nums in doctest_blocks(src / "stdnum-src" / "tests" / "test_isbn.doctest"):
        if valid:
            out += [n for n in nums if stdnum.isbn.is_valid(n)]
    return sorted(set(out))


# Card issuers' published test numbers (Stripe's, Adyen's, PayPal's and
# Braintree's testing pages; SOURCES.md). Kept only if they pass Luhn.
CARD_TEST_NUMBERS = [
    "4242424242424242", "4000056655665556", "4111111111111111", "4012888888881881",
    "4000002760003184", "4000000000003220", "4000000000009995", "4000000000000077",
    "5555555555554444", "2223003122003222", "5200828282828210", "5105105105105100",
    "5454545454545454", "2223000048410010", "378282246310005", "371449635398431",
    "378734493671000", "6011111111111117", "6011000990139424", "6011981111111113",
    "3056930009020004", "36227206271667", "30569309025904", "38520000023237",
    "3566002020360505", "3530111333300000", "6200000000000005", "6759649826438453",
    "4988438843884305", "4166676667666746", "5577000055770004", "6703444444444449",
    "374251018720018", "4917610000000000", "4035501000000008", "4400000000000008",
]


def card_numbers(rng):
    base = [n for n in CARD_TEST_NUMBERS if stdnum.luhn.is_valid(n)]
    made = []
    for n in base:
        for _ in range(12):
            body = n[:6] + "".join(str(rng.randrange(10)) for _ in range(len(n) - 7))
            made.append(body + stdnum.luhn.calc_check_digit(body))
    return base, made


def card_format(n, rng):
    if len(n) == 15:
        groups = [n[:4], n[4:10], n[10:]]
    elif len(n) == 14:
        groups = [n[:4], n[4:10], n[10:]]
    else:
        groups = [n[i:i + 4] for i in range(0, len(n), 4)]
    sep = rng.choice([" ", " ", "-", ""])
    return sep.join(groups)


def ip_addresses(src, rng):
    """Addresses inside the networks of MaxMind's GeoIP2 test databases."""
    import ipaddress
    v4, v6 = set(), set()
    for f in sorted((src / "maxmind" / "source-data").glob("*.json")):
        for entry in json.loads(f.read_text()):
            for net in entry:
                try:
                    n = ipaddress.ip_network(net, strict=False)
                except ValueError:
                    continue
                if n.version == 6 and str(n).startswith("::"):
                    continue  # IPv4-mapped test networks
                for _ in range(8 if n.version == 4 else 1):
                    host = n.network_address + rng.randrange(min(n.num_addresses, 1 << 30))
                    (v4 if n.version == 4 else v6).add(str(host))
    return sorted(rng.sample(sorted(v4), 800)), sorted(rng.sample(sorted(v6), 600))


# Regions whose numbering plans the phone cases come from.
PHONE_REGIONS = ["FR", "DE", "ES", "IT", "NL", "PL", "PT", "GB", "US", "BE", "AT", "CH", "IE",
                 "SE", "DK", "FI", "CZ", "GR", "HU", "RO", "LU", "NO", "CA"]


def phone_numbers(rng):
    """(region, kind, assigned, PhoneNumber) from libphonenumber's metadata
    (the phonenumbers package): example numbers, numbers in valid ranges,
    and possible numbers in unassigned ranges."""
    out = []
    for region in PHONE_REGIONS:
        for ptype, kind in ((PhoneNumberType.MOBILE, "mobile"), (PhoneNumberType.FIXED_LINE, "fixed")):
            ex = phonenumbers.example_number_for_type(region, ptype)
            if ex is None:
                continue
            out.append((region, kind, True, ex))
            nsn = str(ex.national_number)
            valid, unassigned = [], []
            for _ in range(4000):
                k = rng.randrange(2, min(7, len(nsn)))
                cand = nsn[:-k] + "".join(str(rng.randrange(10)) for _ in range(k))
                if rng.random() < 0.3:
                    cand = nsn[0] + "".join(str(rng.randrange(10)) for _ in range(len(nsn) - 1))
                try:
                    num = phonenumbers.parse("+" + str(ex.country_code) + cand)
                except phonenumbers.NumberParseException:
                    continue
                if phonenumbers.region_code_for_number(num) not in (region, None):
                    continue
                if phonenumbers.is_valid_number(num) and phonenumbers.number_type(num) == ptype:
                    if len(valid) < 14:
                        valid.append(num)
                elif phonenumbers.is_possible_number(num) and not phonenumbers.is_valid_number(num):
                    if len(unassigned) < 5:
                        unassigned.append(num)
                if len(valid) >= 14 and len(unassigned) >= 5:
                    break
            out += [(region, kind, True, n) for n in valid]
            out += [(region, kind, False, n) for n in unassigned]
    return out


def phone_forms(num, region, rng):
    """Ways people write a number: (form, text). Forms: intl, national."""
    intl = phonenumbers.format_number(num, PhoneNumberFormat.INTERNATIONAL)
    e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    nat = phonenumbers.format_number(num, PhoneNumberFormat.NATIONAL)
    cc = str(num.country_code)
    forms = [("intl", intl), ("intl", e164), ("intl", "00" + intl[1:]), ("intl", intl.replace(" ", ".")),
             ("intl", intl.replace(" ", "-").replace("+" + cc + "-", "+" + cc + " "))]
    prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix
    if prefix == "0" and region not in ("IT",):
        rest = intl[len(cc) + 2:]
        forms.append(("intl", f"+{cc} (0){rest}"))
    forms += [("national", nat), ("national", nat.replace(" ", "")), ("national", re.sub(r"[ ]", ".", nat)),
              ("national", re.sub(r"[ ]", "-", nat))]
    if region in ("US", "CA"):
        d = str(num.national_number)
        forms += [("national", f"{d[:3]}.{d[3:6]}.{d[6:]}"), ("national", f"{d[:3]}-{d[3:6]}-{d[6:]}")]
    return rng.choice(forms)


def emails(names, domains, rng):
    out = []
    for n in names:
        parts = [p for p in re.split(r"[\s\-']+", n) if p.isalpha()]
        if not parts:
            continue
        low = [p.lower() for p in parts]
        if rng.random() < 0.6:
            low = [ascii_fold(p) for p in low]
        sep = rng.choice([".", "_", "", "-"])
        local = sep.join(low[:2])
        if rng.random() < 0.4:
            local += str(rng.randrange(1, 99))
        out.append(f"{local}@{rng.choice(domains)}")
    return out


def ascii_fold(s):
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def usernames(names, rng):
    out = []
    for n in names:
        parts = [ascii_fold(p.lower()) for p in re.split(r"[\s\-']+", n) if p.isalpha()]
        parts = [re.sub(r"[^a-z0-9]", "", p) for p in parts]
        parts = [p for p in parts if p]
        if not parts:
            continue
        sep = rng.choice([".", "_", ""])
        u = sep.join(parts[:2])
        if rng.random() < 0.5:
            u += str(rng.randrange(1, 999))
        out.append(u[:24])
    return out


MAIL_DOMAINS = ["gmail.com", "web.de", "gmx.de", "orange.fr", "free.fr", "laposte.net", "libero.it", "virgilio.it",
                "wp.pl", "onet.pl", "o2.pl", "sapo.pt", "hotmail.com", "outlook.com", "yahoo.es", "telefonica.net",
                "ziggo.nl", "kpnmail.nl", "btinternet.com", "yahoo.co.uk", "icloud.com", "proton.me", "t-online.de",
                "posteo.de", "mailbox.org", "uni-heidelberg.de", "example.org"]

# Fediverse hosts: instances listed on joinmastodon.org and elsewhere.
FEDI_HOSTS = ["mastodon.social", "mstdn.social", "fosstodon.org", "mastodon.online", "chaos.social", "mas.to",
              "hachyderm.io", "infosec.exchange", "troet.cafe", "mastodon.nl", "piaille.fr", "mastodon.uno",
              "pol.social", "masto.pt", "social.coop", "mastodon.green", "norden.social", "mastodon.ie",
              "toot.community", "sigmoid.social", "det.social", "mamot.fr", "mastodon.world", "tech.lgbt"]


def profile_url(user, rng):
    forms = [
        lambda: f"https://{rng.choice(FEDI_HOSTS)}/@{user}",
        lambda: f"https://bsky.app/profile/{user}.bsky.social",
        lambda: f"https://www.reddit.com/u/{user}",
        lambda: f"https://www.reddit.com/user/{user}/",
        lambda: f"https://github.com/{user}",
        lambda: f"https://www.instagram.com/{user}/",
        lambda: f"https://x.com/{user}",
        lambda: f"https://twitter.com/{user}",
        lambda: f"https://www.tiktok.com/@{user}",
        lambda: f"https://www.youtube.com/@{user}",
        lambda: f"https://www.facebook.com/{user}",
        lambda: f"https://www.linkedin.com/in/{user}",
        lambda: f"https://www.threads.net/@{user}",
        lambda: f"https://gitlab.com/{user}",
        lambda: f"https://{rng.choice(FEDI_HOSTS)}/users/{user}",
        lambda: f"https://medium.com/@{user}",
        lambda: f"https://www.twitch.tv/{user}",
        lambda: f"{rng.choice(FEDI_HOSTS)}/@{user}",
    ]
    return rng.choice(forms)()


def addresses(src):
    """Street addresses with a house number from libpostal's parser tests
    and Pelias's parser tests: (country, text, start, end) where the range
    runs from the first house number, road or unit to the last of those or
    the postcode."""
    out = []
    c = (src / "libpostal" / "test_parser.c").read_text(encoding="utf-8")
    for m in re.finditer(r'test_parse_result_equals\(\s*"((?:[^"\\]|\\.)*)",\s*options,\s*\d+,(.*?)\)\);', c, re.S):
        text = m.group(1).encode().decode("unicode_escape").encode("latin-1").decode("utf-8")
        comps = re.findall(r'\{"(\w+)", "((?:[^"\\]|\\.)*)"\}', m.group(2))
        out += address_range(text, comps)
    for f in sorted((src / "pelias" / "test").glob("address.*.test.js")):
        js = f.read_text(encoding="utf-8")
        for m in re.finditer(r"assert\('((?:[^'\\]|\\.)*)',\s*\[(.*?)\]", js, re.S):
            text = m.group(1)
            comps = re.findall(r"\{\s*(\w+):\s*'((?:[^'\\]|\\.)*)'\s*\}", m.group(2))
            comps = [("house_number" if k == "housenumber" else "road" if k == "street" else k, v) for k, v in comps]
            out += address_range(text, comps)
    seen, uniq = set(), []
    for a in out:
        if a[0] not in seen:
            seen.add(a[0])
            uniq.append(a)
    return uniq


def address_range(text, comps):
    kinds = {k for k, _ in comps}
    if "house_number" not in kinds or "road" not in kinds or "\n" in text:
        return []
    low = text.lower()
    starts, ends = [], []
    for k, v in comps:
        if k not in ("house_number", "road", "unit", "postcode", "level"):
            continue
        i = low.find(v.lower())
        if i < 0:
            return []
        starts.append(i)
        ends.append(i + len(v))
    s, e = min(starts), max(ends)
    return [(text, s, e)]


# -------------------------------------------------------------------- decoys

def decoys(rng, isbn_list):
    """(what, text) values that must be left alone."""
    out = []
    for _ in range(600):
        y, mo, d = rng.randrange(1990, 2027), rng.randrange(1, 13), rng.randrange(1, 29)
        out.append(("date", rng.choice([f"{d:02}/{mo:02}/{y}", f"{y}-{mo:02}-{d:02}", f"{d}.{mo}.{y}", f"{d:02}.{mo:02}.{y}", f"{mo}/{d}/{y}"])))
        ts = rng.randrange(1_000_000_000, 1_800_000_000)
        out.append(("timestamp", rng.choice([str(ts), str(ts * 1000 + rng.randrange(1000)), f"{y}-{mo:02}-{d:02}T{rng.randrange(24):02}:{rng.randrange(60):02}:{rng.randrange(60):02}Z", f"{y}-{mo:02}-{d:02} {rng.randrange(24):02}:{rng.randrange(60):02}"])))
        out.append(("version", rng.choice([f"v{rng.randrange(10)}.{rng.randrange(30)}.{rng.randrange(20)}", f"{rng.randrange(1,5)}.{rng.randrange(30)}.{rng.randrange(10)}", f"10.0.{rng.randrange(10000, 26000)}.{rng.randrange(5000)}", f"{rng.randrange(100,130)}.0.{rng.randrange(1000,7000)}.{rng.randrange(200)}"])))
        out.append(("price", rng.choice([f"{rng.randrange(1,9999)},{rng.randrange(100):02} €", f"€{rng.randrange(1,9)}.{rng.randrange(100,999)},00", f"${rng.randrange(1,9)},{rng.randrange(100,999)}.{rng.randrange(100):02}", f"£{rng.randrange(1,999)}.{rng.randrange(100):02}", f"{rng.randrange(1,9)} {rng.randrange(100,999)},{rng.randrange(100):02} zł"])))
        out.append(("order_number", rng.choice([f"{rng.randrange(100,999)}-{rng.randrange(10**6,10**7)}-{rng.randrange(10**6,10**7)}", f"#{rng.randrange(10**7, 10**10)}", f"{rng.randrange(10**9, 10**10)}", f"A{rng.randrange(10**8, 10**9)}"])))
        body = "".join(str(rng.randrange(10)) for _ in range(16))
        if stdnum.luhn.is_valid(body):
            body = body[:-1] + str((int(body[-1]) + 1) % 10)
        out.append(("luhn_fail", " ".join(body[i:i + 4] for i in range(0, 16, 4)) if rng.random() < 0.6 else body))
    for n in isbn_list:
        out.append(("isbn", n))
    return out


DECOY_LEADS = {
    "date": {"fr": "le", "de": "am", "es": "el", "it": "il", "nl": "op", "pl": "dnia", "pt": "em", "en": "on"},
    "timestamp": {l: "ts=" for l in LANGS},
    "version": {"fr": "version", "de": "Version", "es": "versión", "it": "versione", "nl": "versie", "pl": "wersja", "pt": "versão", "en": "version"},
    "price": {"fr": "prix :", "de": "Preis:", "es": "precio:", "it": "prezzo:", "nl": "prijs:", "pl": "cena:", "pt": "preço:", "en": "price:"},
    "order_number": {"fr": "commande", "de": "Bestellung", "es": "pedido", "it": "ordine", "nl": "bestelling", "pl": "zamówienie", "pt": "encomenda", "en": "order"},
    "luhn_fail": {"fr": "réf.", "de": "Ref.", "es": "ref.", "it": "rif.", "nl": "ref.", "pl": "nr ref.", "pt": "ref.", "en": "ref"},
    "isbn": {l: "ISBN" for l in LANGS},
}


# --------------------------------------------------------------------- build

def build(src, part, rng, pools, sents):
    cases = []
    carriers = {l: [t for t, _ in sents[part][l]["plain"]] for l in LANGS}

    def carrier(lang):
        return rng.choice(carriers[lang])

    def plant(lang, region, kind, entity, what, value, detail="", cue=True, tail=None):
        t = Text()
        s = carrier(lang)
        cs = cues(kind, lang, part) if cue else []
        shape = rng.randrange(3)
        lead = (rng.choice(cs) + " ") if cs else ""
        if shape == 0:
            t.add(s + " " + lead).add(value, entity, what, detail).add(tail if tail is not None else rng.choice(["", ".", " !", " 🙂", " merci", ")"][:4]))
        elif shape == 1:
            t.add(lead[:1].upper() + lead[1:] if lead else "").add(value, entity, what, detail).add(rng.choice([". ", " - ", "\n", " | "]) + s)
        else:
            words = s.split(" ")
            k = rng.randrange(1, max(2, len(words)))
            t.add(" ".join(words[:k]) + " (" + lead).add(value, entity, what, detail).add(") " + " ".join(words[k:]))
        cases.append(t.case(lang, region))

    # phone numbers
    for region, kind, assigned, num in pools["phones"]:
        if part_of(f"phone:{phonenumbers.format_number(num, PhoneNumberFormat.E164)}") != part:
            continue
        lang = COUNTRY_LANG.get(region, rng.choice(LANGS))
        for _ in range(2):
            form, text = phone_forms(num, region, rng)
            cue = (not assigned and form == "national") or rng.random() < 0.6
            author = region if rng.random() < 0.7 else rng.choice(["DE", "FR", "GB", "NL", "ES", None])
            detail = f"{region} {kind} {'assigned' if assigned else 'unassigned'}{' cued' if cue else ''}"
            ext = ""
            if region in ("US", "CA", "GB") and rng.random() < 0.15:
                ext = rng.choice([" x23", " ext. 12", " ext 405"])
            plant(lang, author, "phone", "phone", f"phone_{form}", text, detail, cue=cue,
                  tail=ext + rng.choice(["", ".", " !"]) if ext else None)

    # national ids
    for kind, (found, made) in pools["ids"].items():
        cc = kind.split("_")[0].upper()
        lang = COUNTRY_LANG.get(cc, "en")
        mine = [n for n in found + made if part_of(f"id:{key(n)}") == part]
        for n in mine:
            cue = rng.random() < 0.5
            plant(lang, cc if rng.random() < 0.8 else None, "national_id", "national_id", "national_id", n,
                  f"{kind} valid{' cued' if cue else ''}", cue=cue)
        for n in mine[: max(2, len(mine) // 3)]:
            bad = bad_check(n, rng)
            mod = module(*kind.split("_", 1))
            if bad and not mod.is_valid(bad):
                plant(lang, cc, "national_id", "national_id", "national_id", bad, f"{kind} bad check cued", cue=True)

    # IBANs
    for n in pools["ibans"]:
        if part_of(f"iban:{key(n)}") != part:
            continue
        for _ in range(2):
            lang = rng.choice(LANGS)
            compact = stdnum.iban.compact(n)
            value = rng.choice([compact, stdnum.iban.format(n), n])
            plant(lang, LANG_COUNTRY[lang], "iban", "iban", "iban", value, compact[:2], cue=rng.random() < 0.5)

    # cards
    base, made = pools["cards"]
    for n in base + made:
        if part_of(f"card:{n}") != part:
            continue
        lang = rng.choice(LANGS)
        plant(lang, LANG_COUNTRY[lang], "card", "card", "card", card_format(n, rng), "issuer test" if n in base else "luhn completed", cue=rng.random() < 0.5)

    # IP addresses
    v4, v6 = pools["ips"]
    for fam, lst in (("ipv4", v4), ("ipv6", v6)):
        for a in lst:
            if part_of(f"ip:{a}") != part:
                continue
            lang = rng.choice(LANGS)
            plant(lang, LANG_COUNTRY[lang], "ip", "ip", fam, a, cue=rng.random() < 0.5)

    # values next to other values
    for i in range(150):
        lang = rng.choice(LANGS)
        first_what, first = rng.choice([d for d in pools["decoys"] if d[0] in ("date", "version", "isbn")])
        if rng.random() < 0.6:
            second = rng.choice(v4)
            ent, what = "ip", "ipv4"
            if part_of(f"ip:{second}") != part:
                continue
        else:
            n = rng.choice(base + made)
            if part_of(f"card:{n}") != part:
                continue
            second = card_format(n, rng)
            ent, what = "card", "card"
        t = Text().add(carrier(lang) + " ").add(first, None, first_what).add(" ").add(second, ent, what, f"after {first_what}").add(".")
        cases.append(t.case(lang, LANG_COUNTRY[lang]))

    # e-mail addresses, profile URLs, handles: from the names of this part
    names = [n for n in pools["names"] if part_of("name:" + n) == part]
    domains = [d for d in MAIL_DOMAINS if part_of("domain:" + d) == part] or MAIL_DOMAINS[:2]
    for e in emails(names[:400], domains, rng):
        lang = rng.choice(LANGS)
        plant(lang, LANG_COUNTRY[lang], "email", "email", "email", e, cue=rng.random() < 0.5)
    users = usernames(names[400:1000], rng)
    for u in users[:400]:
        lang = rng.choice(LANGS)
        plant(lang, LANG_COUNTRY[lang], "url", "url", "profile_url", profile_url(u, rng), cue=rng.random() < 0.5)
    for u in users[400:600]:
        lang = rng.choice(LANGS)
        plant(lang, LANG_COUNTRY[lang], "url", "handle", "handle", "@" + u, cue=rng.random() < 0.5)

    # street addresses
    for text, s, e in pools["addresses"]:
        if part_of("address:" + key(text[s:e])) != part:
            continue
        for _ in range(3):
            lang = rng.choice(LANGS)
            t = Text()
            lead = carrier(lang) + " " + rng.choice(cues("address", lang, part)) + " "
            t.add(lead + text[:s]).add(text[s:e], "address", "address").add(text[e:] + rng.choice(["", ".", " !"]))
            cases.append(t.case(lang, LANG_COUNTRY[lang]))

    # persons: sentences as WikiNEuRal annotated them
    for lang in LANGS:
        for text, spans in sents[part][lang]["people"][:600]:
            t = Text()
            t.s = text
            t.labels = [{"start": a, "end": b, "what": "person", "entity": "person"} for a, b in spans]
            cases.append(t.case(lang, LANG_COUNTRY[lang]))

    # decoys
    for what, value in pools["decoys"]:
        if part_of(f"decoy:{what}:{value}") != part:
            continue
        lang = rng.choice(LANGS)
        lead = DECOY_LEADS[what][lang] + " " if rng.random() < 0.6 else ""
        t = Text().add(carrier(lang) + " " + lead).add(value, None, what).add(rng.choice(["", ".", " !"]))
        cases.append(t.case(lang, LANG_COUNTRY[lang]))

    # clean texts: sentences with no person, not used above as carriers is
    # not guaranteed, so take them from the end of the list
    for lang in LANGS:
        for text in carriers[lang][-1000:]:
            cases.append(Text().add(text).case(lang, LANG_COUNTRY[lang]))

    rng.shuffle(cases)
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rng = random.Random(20261206)
    sents = load_sentences(args.src)
    names = sorted({
        text.encode()[a:b].decode()
        for p in ("dev", "test") for l in LANGS for text, spans in sents[p][l]["people"] for a, b in spans
        if " " in text.encode()[a:b].decode()
    })
    rng.shuffle(names)
    isbn_list = isbns(args.src)
    pools = {
        "phones": phone_numbers(rng),
        "ids": national_ids(args.src, rng),
        "ibans": ibans(args.src),
        "cards": card_numbers(rng),
        "ips": ip_addresses(args.src, rng),
        "names": names,
        "addresses": addresses(args.src),
        "decoys": decoys(rng, isbn_list),
    }
    for part in ("test", "dev"):
        cases = build(args.src, part, random.Random(f"{part}-20261206"), pools, sents)
        with open(args.out / f"{part}.jsonl", "w", encoding="utf-8") as f:
            for c in cases:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
        kinds = {}
        for c in cases:
            for l in c["labels"]:
                kinds[l["what"]] = kinds.get(l["what"], 0) + 1
            if not c["labels"]:
                kinds["clean"] = kinds.get("clean", 0) + 1
        print(part, len(cases), dict(sorted(kinds.items())))
    print("versions:", "python-stdnum", stdnum.__version__, "phonenumbers", phonenumbers.__version__)


if __name__ == "__main__":
    main()
