//! The labelled evaluation corpus and its metrics.
//!
//! [`generate`] builds, for a seed, sentences in fr, de, es, it, nl, pl, pt and
//! en with planted values that pass their checksums (and are labelled with
//! their byte range), near-miss negatives that must stay (wrong check digits,
//! dates, prices, order numbers, ISBNs, versions, timestamps, postcodes) and
//! clean texts. [`evaluate`] runs a scanner over cases and reports precision
//! and recall per entity type, the leak rate and the false-positive rate.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Entity, Scanner, checks};

/// A labelled byte range of a case's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub start: usize,
    pub end: usize,
    /// The entity type for a planted value; `None` for a negative.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub entity: Option<Entity>,
    /// What the value is (e.g. `fr_nir`, `date`, `luhn_fail`): the row of
    /// the report it counts in.
    pub what: String,
    /// More about it, for reading misses: the id's kind, the phone's region
    /// and whether its range is assigned, what the value follows.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub detail: String,
}

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub lang: String,
    /// The author's country, as the pipeline would pass it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    pub text: String,
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// Seed and size (planted cases per type, negatives, clean texts) of the
/// committed corpus, `eval/corpus.jsonl`.
pub const CORPUS_SEED: u64 = 20_261_124;
pub const CORPUS_SHAPE: (usize, usize, usize) = (200, 1000, 400);

const LANGS: [&str; 8] = ["fr", "de", "es", "it", "nl", "pl", "pt", "en"];
const COUNTRIES: [&str; 8] = ["FR", "DE", "ES", "IT", "NL", "PL", "PT", "GB"];

/// Carrier phrases per language: a lead-in and a tail around a value.
fn carrier(lang: usize, what: Entity, rng: &mut ChaCha8Rng) -> (&'static str, &'static str) {
    let lead: &[[&str; 8]] = match what {
        Entity::Email => &[
            [
                "Écrivez-moi à",
                "Schreib mir an",
                "Escríbeme a",
                "Scrivimi a",
                "Mail me op",
                "Napisz do mnie na",
                "Escreve-me para",
                "Email me at",
            ],
            [
                "Mon adresse mail :",
                "Meine E-Mail:",
                "Mi correo:",
                "La mia email:",
                "Mijn e-mail:",
                "Mój e-mail:",
                "O meu email:",
                "My email:",
            ],
        ],
        Entity::Phone => &[
            [
                "Appelle-moi au",
                "Ruf mich an unter",
                "Llámame al",
                "Chiamami al",
                "Bel me op",
                "Zadzwoń pod",
                "Liga-me para o",
                "Call me on",
            ],
            [
                "Mon numéro :",
                "Meine Nummer:",
                "Mi número:",
                "Il mio numero:",
                "Mijn nummer:",
                "Mój numer:",
                "O meu número:",
                "My number:",
            ],
        ],
        Entity::Iban => &[
            [
                "Voici mon IBAN",
                "Hier meine IBAN",
                "Mi IBAN es",
                "Il mio IBAN è",
                "Mijn IBAN is",
                "Mój numer konta",
                "O meu IBAN é",
                "My IBAN is",
            ],
            [
                "Virement sur",
                "Überweisung an",
                "Transferencia a",
                "Bonifico su",
                "Overmaken naar",
                "Przelew na",
                "Transferência para",
                "Transfer to",
            ],
        ],
        Entity::Card => &[[
            "Ma carte :",
            "Meine Karte:",
            "Mi tarjeta:",
            "La mia carta:",
            "Mijn kaart:",
            "Moja karta:",
            "O meu cartão:",
            "My card:",
        ]],
        Entity::Ip => &[[
            "Mon serveur est en",
            "Mein Server läuft auf",
            "Mi servidor está en",
            "Il mio server è su",
            "Mijn server draait op",
            "Mój serwer to",
            "O meu servidor está em",
            "My server is at",
        ]],
        Entity::Url => &[[
            "Suivez-moi sur",
            "Folgt mir auf",
            "Sígueme en",
            "Seguitemi su",
            "Volg me op",
            "Obserwuj mnie na",
            "Sigam-me em",
            "Follow me on",
        ]],
        Entity::Handle => &[[
            "Écrivez à",
            "Schreibt an",
            "Escribid a",
            "Scrivete a",
            "Stuur een bericht naar",
            "Piszcie do",
            "Escrevam para",
            "Message",
        ]],
        _ => &[[
            "Voici le numéro",
            "Hier die Nummer",
            "Este es el número",
            "Ecco il numero",
            "Hier is het nummer",
            "Oto numer",
            "Eis o número",
            "Here is the number",
        ]],
    };
    let tail: [&str; 8] = [
        "si besoin.",
        "falls nötig.",
        "si hace falta.",
        "se serve.",
        "als het nodig is.",
        "w razie potrzeby.",
        "se for preciso.",
        "if needed.",
    ];
    let set = &lead[rng.random_range(0..lead.len())];
    (set[lang], tail[lang])
}

/// Sentences with no personal data, per language, including decoys such as
/// numbers and capitalised words.
const CLEAN: [&[&str]; 8] = [
    &[
        "Le concert commence à 20h30, les portes ouvrent à 19h.",
        "On a fait 42 km à vélo ce week-end, quelle journée !",
        "Le livre coûte 18,90 € en poche.",
        "Réunion du comité le 3 mars à la mairie de Lyon.",
        "Il fait 23 degrés à Marseille aujourd'hui.",
    ],
    &[
        "Das Spiel endete 2:1 nach Verlängerung.",
        "Wir sind 120 km durch den Schwarzwald gewandert.",
        "Der Eintritt kostet 12,50 € pro Person.",
        "Am 3. Oktober ist Feiertag in Berlin.",
        "Die Bahn hatte 25 Minuten Verspätung.",
    ],
    &[
        "El partido terminó 3 a 1 en el minuto 90.",
        "Hicimos 15 km por la sierra de Madrid.",
        "La entrada cuesta 8 € para estudiantes.",
        "Nos vemos el 12 de octubre en Sevilla.",
        "Hoy hace 30 grados en Valencia.",
    ],
    &[
        "La partita è finita 2 a 0 al 90esimo.",
        "Abbiamo camminato 18 km sulle Dolomiti.",
        "Il biglietto costa 9,50 € a Roma.",
        "Ci vediamo il 2 giugno a Milano.",
        "Oggi ci sono 28 gradi a Napoli.",
    ],
    &[
        "De wedstrijd eindigde in 1-1 na 90 minuten.",
        "We fietsten 60 km langs de kust van Zeeland.",
        "Een kaartje kost 14 euro in Utrecht.",
        "Koningsdag is op 27 april in Amsterdam.",
        "Het is vandaag 19 graden in Rotterdam.",
    ],
    &[
        "Mecz skończył się wynikiem 2:2 w Krakowie.",
        "Przeszliśmy 22 km po Tatrach.",
        "Bilet kosztuje 25 zł w Warszawie.",
        "Spotkanie 11 listopada w Gdańsku.",
        "Dziś jest 21 stopni we Wrocławiu.",
    ],
    &[
        "O jogo acabou 1-0 no Porto.",
        "Fizemos 30 km de bicicleta em Lisboa.",
        "O bilhete custa 7,50 € em Coimbra.",
        "Encontramo-nos a 10 de junho em Braga.",
        "Hoje estão 26 graus no Algarve.",
    ],
    &[
        "The match ended 3-2 after extra time.",
        "We hiked 14 miles in the Lake District.",
        "Tickets cost £12.50 at the door in London.",
        "See you on 4 July in Boston.",
        "It is 22 degrees in Manchester today.",
    ],
];

fn digits(rng: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| b'0' + rng.random_range(0..10u8)).collect()
}

fn luhn_complete(mut body: Vec<u8>) -> Vec<u8> {
    for d in b'0'..=b'9' {
        body.push(d);
        if checks::luhn(&body) {
            return body;
        }
        body.pop();
    }
    unreachable!("one check digit always completes Luhn")
}

/// Inserts `sep` every `group` characters.
fn grouped(s: &[u8], groups: &[usize], sep: &str) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (i, g) in groups.iter().enumerate() {
        if at >= s.len() {
            break;
        }
        if i > 0 {
            out.push_str(sep);
        }
        let end = (at + g).min(s.len());
        out.push_str(std::str::from_utf8(&s[at..end]).expect("ASCII"));
        at = end;
    }
    if at < s.len() {
        out.push_str(sep);
        out.push_str(std::str::from_utf8(&s[at..]).expect("ASCII"));
    }
    out
}

const SEPS: [&str; 5] = [" ", "\u{00A0}", "\u{202F}", "-", "."];

fn card(rng: &mut ChaCha8Rng) -> String {
    let (prefix, len): (&[u8], usize) = match rng.random_range(0..5u32) {
        0 => (b"4", 16),
        1 => (b"5", 16),
        2 => (b"37", 15),
        3 => (b"6011", 16),
        _ => (b"35", 16),
    };
    let mut body = prefix.to_vec();
    if prefix == b"5" {
        body.push(b'1' + rng.random_range(0..5u8));
    }
    if prefix == b"35" {
        body.extend(b"28");
    }
    let rest = len - 1 - body.len();
    body.extend(digits(rng, rest));
    let n = luhn_complete(body);
    match rng.random_range(0..3u32) {
        0 => String::from_utf8(n).expect("ASCII"),
        1 if len == 15 => grouped(&n, &[4, 6, 5], " "),
        1 => grouped(&n, &[4, 4, 4, 4], " "),
        _ if len == 15 => grouped(&n, &[4, 6, 5], "-"),
        _ => grouped(&n, &[4, 4, 4, 4], "-"),
    }
}

fn iban(rng: &mut ChaCha8Rng) -> String {
    const COUNTRIES: [&[u8; 2]; 12] = [
        b"FR", b"DE", b"ES", b"IT", b"NL", b"PL", b"PT", b"BE", b"AT", b"GB", b"IE", b"LU",
    ];
    let c = COUNTRIES[rng.random_range(0..COUNTRIES.len())];
    let len = checks::iban_length(*c).expect("listed country");
    let mut bban: Vec<u8> = digits(rng, len - 4);
    // Letters where the country's bank code has them.
    if matches!(c, b"NL" | b"GB" | b"IE") {
        for b in &mut bban[..4] {
            *b = b'A' + rng.random_range(0..26u8);
        }
    }
    if c == b"IT" {
        bban[0] = b'A' + rng.random_range(0..26u8);
    }
    let mut s = Vec::with_capacity(len);
    s.extend_from_slice(c);
    s.extend(b"00");
    s.extend(&bban);
    for check in 2..=98u8 {
        s[2] = b'0' + check / 10;
        s[3] = b'0' + check % 10;
        if checks::iban(&s) {
            break;
        }
    }
    debug_assert!(checks::iban(&s));

    match rng.random_range(0..3u32) {
        0 => String::from_utf8(s).expect("ASCII"),
        1 => grouped(&s, &[4; 9], " "),
        _ => grouped(&s, &[4; 9], " ").to_lowercase(),
    }
}

fn ip(rng: &mut ChaCha8Rng) -> (String, &'static str) {
    if rng.random_bool(0.5) {
        let o: Vec<String> = (0..4)
            .map(|_| rng.random_range(1..255u16).to_string())
            .collect();
        (o.join("."), "ipv4")
    } else {
        let groups: Vec<u16> = (0..8).map(|_| rng.random_range(0..=0xffffu16)).collect();
        let mut g = groups.clone();
        let form = rng.random_range(0..3u32);
        if form > 0 {
            // Zero a run so the address compresses with "::".
            let start = rng.random_range(1..5usize);
            for x in &mut g[start..start + 2 + form as usize] {
                *x = 0;
            }
        }
        let addr = std::net::Ipv6Addr::new(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
        (addr.to_string(), "ipv6")
    }
}

/// A valid national id of `kind` (0-9), with a keyword the text should carry.
fn national_id(rng: &mut ChaCha8Rng, kind: u32) -> (String, &'static str, &'static str) {
    loop {
        let (s, what, keyword): (Vec<u8>, &str, &str) = match kind {
            0 => {
                let mut b = vec![b'1' + rng.random_range(0..2u8)];
                b.extend(digits(rng, 2));
                b.extend(format!("{:02}", rng.random_range(1..13u8)).bytes());
                b.extend(format!("{:02}", rng.random_range(1..96u8)).bytes());
                b.extend(digits(rng, 6));
                let n: u64 = std::str::from_utf8(&b)
                    .expect("ASCII")
                    .parse()
                    .expect("digits");
                b.extend(format!("{:02}", 97 - n % 97).bytes());
                (b, "fr_nir", "NIR")
            }
            1 => {
                let n = rng.random_range(10_000_000..99_999_999u64);
                let l = b"TRWAGMYFPDXBNJZSQVHLCKE"[(n % 23) as usize];
                let mut b = n.to_string().into_bytes();
                b.push(l);
                (b, "es_dni", "DNI")
            }
            2 => {
                let lead = rng.random_range(0..3u64);
                let n = rng.random_range(1_000_000..9_999_999u64);
                let l = b"TRWAGMYFPDXBNJZSQVHLCKE"[((lead * 10_000_000 + n) % 23) as usize];
                let mut b = vec![b"XYZ"[lead as usize]];
                b.extend(n.to_string().bytes());
                b.push(l);
                (b, "es_nie", "NIE")
            }
            3 => {
                let mut b: Vec<u8> = (0..6).map(|_| b'A' + rng.random_range(0..26u8)).collect();
                b.extend(digits(rng, 2));
                b.push(b"ABCDEHLMPRST"[rng.random_range(0..12usize)]);
                b.extend(format!("{:02}", rng.random_range(1..72u8)).bytes());
                b.push(b'A' + rng.random_range(0..26u8));
                b.extend(digits(rng, 3));
                b.push(b'A');
                for c in b'A'..=b'Z' {
                    b[15] = c;
                    if checks::it_codice_fiscale(&b) {
                        break;
                    }
                }
                (b, "it_codice_fiscale", "codice fiscale")
            }
            4 => (digits(rng, 9), "nl_bsn", "BSN"),
            5 => {
                let mut b = digits(rng, 2);
                b.extend(format!("{:02}", rng.random_range(1..13u8)).bytes());
                b.extend(format!("{:02}", rng.random_range(1..29u8)).bytes());
                b.extend(digits(rng, 5));
                (b, "pl_pesel", "PESEL")
            }
            6 => {
                let mut b = digits(rng, 2);
                b.extend(format!("{:02}", rng.random_range(1..13u8)).bytes());
                b.extend(format!("{:02}", rng.random_range(1..29u8)).bytes());
                b.extend(digits(rng, 3));
                let n: u64 = std::str::from_utf8(&b)
                    .expect("ASCII")
                    .parse()
                    .expect("digits");
                b.extend(format!("{:02}", 97 - n % 97).bytes());
                (b, "be_national_number", "rijksregisternummer")
            }
            7 => {
                let mut b = vec![b"12356789"[rng.random_range(0..8usize)]];
                b.extend(digits(rng, 8));
                (b, "pt_nif", "NIF")
            }
            8 => (digits(rng, 11), "de_steuer_id", "Steuer-ID"),
            _ => {
                if rng.random_bool(0.5) {
                    let mut b = vec![
                        b"ABCEGHJKLMNOPRSTWXYZ"[rng.random_range(0..20usize)],
                        b"ABCEGHJKLMNPRSTWXYZ"[rng.random_range(0..19usize)],
                    ];
                    b.extend(digits(rng, 6));
                    b.push(b"ABCD"[rng.random_range(0..4usize)]);
                    (b, "uk_nino", "National Insurance")
                } else {
                    let mut b = format!("{:03}", rng.random_range(1..666u16)).into_bytes();
                    b.extend(format!("{:02}", rng.random_range(1..100u8)).bytes());
                    b.extend(format!("{:04}", rng.random_range(1..10_000u16)).bytes());
                    (b, "us_ssn", "SSN")
                }
            }
        };
        let valid = match what {
            "fr_nir" => checks::fr_nir(&s),
            "es_dni" | "es_nie" => checks::es_dni_nie(&s),
            "it_codice_fiscale" => checks::it_codice_fiscale(&s),
            "nl_bsn" => checks::nl_bsn(&s),
            "pl_pesel" => checks::pl_pesel(&s),
            "be_national_number" => checks::be_national_number(&s),
            "pt_nif" => checks::pt_nif(&s),
            "de_steuer_id" => checks::de_steuer_id(&s),
            "uk_nino" => checks::uk_nino(&s),
            _ => checks::us_ssn(&s),
        };
        if !valid {
            continue;
        }
        let text = match what {
            "fr_nir" if rng.random_bool(0.5) => grouped(&s, &[1, 2, 2, 2, 3, 3, 2], " "),
            "be_national_number" if rng.random_bool(0.5) => {
                let t = std::str::from_utf8(&s).expect("ASCII");
                format!(
                    "{}.{}.{}-{}.{}",
                    &t[0..2],
                    &t[2..4],
                    &t[4..6],
                    &t[6..9],
                    &t[9..11]
                )
            }
            "uk_nino" if rng.random_bool(0.5) => grouped(&s, &[2, 2, 2, 2, 1], " "),
            "us_ssn" => grouped(&s, &[3, 2, 4], "-"),
            "es_dni" if rng.random_bool(0.3) => {
                let t = std::str::from_utf8(&s).expect("ASCII");
                format!("{}-{}", &t[..8], &t[8..])
            }
            _ => String::from_utf8(s).expect("ASCII"),
        };
        return (text, what, keyword);
    }
}

/// A valid phone number: its text, and the region whose author would write it.
fn phone(rng: &mut ChaCha8Rng) -> (String, String) {
    // (region, country code, national trunk "0"?, national number patterns)
    const PLANS: &[(&str, &str, bool, &[&str])] = &[
        (
            "FR",
            "33",
            true,
            &["6########", "7########", "1########", "4########"],
        ),
        (
            "DE",
            "49",
            true,
            &[
                "151########",
                "160#######",
                "170#######",
                "30########",
                "89#######",
            ],
        ),
        ("ES", "34", false, &["6########", "91#######", "93#######"]),
        (
            "IT",
            "39",
            false,
            &["3#########", "06########", "02########"],
        ),
        ("NL", "31", true, &["6########", "20#######", "10#######"]),
        (
            "PL",
            "48",
            false,
            &["5########", "6########", "7########", "22#######"],
        ),
        (
            "PT",
            "351",
            false,
            &["91#######", "93#######", "96#######", "21#######"],
        ),
        ("BE", "32", true, &["47#######", "48#######", "2#######"]),
        ("AT", "43", true, &["664#######", "1#######"]),
        (
            "GB",
            "44",
            true,
            &["7700######", "20########", "161#######"],
        ),
        (
            "US",
            "1",
            false,
            &["2125550###", "4155550###", "6175551###"],
        ),
    ];
    loop {
        let (region, cc, trunk, pats) = PLANS[rng.random_range(0..PLANS.len())];
        let pat = pats[rng.random_range(0..pats.len())];
        let nsn: String = pat
            .chars()
            .map(|c| {
                if c == '#' {
                    char::from(b'0' + rng.random_range(0..10u8))
                } else {
                    c
                }
            })
            .collect();
        let Ok(n) = phonenumber::parse(None, format!("+{cc}{nsn}")) else {
            continue;
        };
        if !phonenumber::is_valid(&n) {
            continue;
        }
        let national = if trunk {
            format!("0{nsn}")
        } else {
            nsn.clone()
        };
        let sep = SEPS[rng.random_range(0..4usize)];
        let text = match rng.random_range(0..5u32) {
            0 => format!("+{cc} {}", grouped(nsn.as_bytes(), &[3, 3, 4], " ")),
            1 => format!("00{cc} {}", grouped(nsn.as_bytes(), &[3, 3, 4], " ")),
            2 => national.clone(),
            3 if region == "US" => format!("({}) {}-{}", &nsn[..3], &nsn[3..6], &nsn[6..]),
            _ if region == "FR" || region == "BE" => grouped(national.as_bytes(), &[2; 5], sep),
            _ => grouped(national.as_bytes(), &[3, 3, 4], sep),
        };
        // The phone library is the oracle only for what it accepts; check the
        // written form still reads as the same number for its region.
        return (text, region.to_owned());
    }
}

const LOCALS: [&str; 8] = [
    "marie.dupont",
    "jürgen.weiß",
    "lucía.gómez",
    "giulia.rossi",
    "jan.de.vries",
    "łukasz.nowak",
    "joão.silva",
    "emily_j",
];
const DOMAINS: [&str; 8] = [
    "example.fr",
    "beispiel.de",
    "correo.es",
    "posta.it",
    "voorbeeld.nl",
    "poczta.pl",
    "exemplo.pt",
    "example.co.uk",
];
const SURNAMES: [&str; 8] = [
    "Martin", "Müller", "García", "Rossi", "de Vries", "Kowalski", "Silva", "Smith",
];
const CUES: [&str; 8] = [
    "je m'appelle",
    "ich heiße",
    "me llamo",
    "mi chiamo",
    "ik heet",
    "nazywam się",
    "chamo-me",
    "my name is",
];
const TITLE: [&str; 8] = ["Mme", "Herr", "Sra.", "Sig.", "Dhr.", "Pani", "Sr.", "Mrs"];
const STREET: [&str; 8] = [
    "{n} rue des Lilas",
    "Hauptstraße {n}",
    "Calle Mayor {n}",
    "via Garibaldi {n}",
    "Kerkstraat {n}",
    "ul. Długa {n}",
    "Rua Augusta, {n}",
    "{n} Baker Street",
];
const FIRST: [&str; 8] = [
    "Camille", "Jonas", "Lucía", "Giulia", "Sanne", "Piotr", "João", "Emily",
];

fn email(rng: &mut ChaCha8Rng, lang: usize) -> String {
    let local = LOCALS[rng.random_range(0..8usize)];
    let domain = if rng.random_bool(0.2) {
        "bücher.de"
    } else {
        DOMAINS[lang]
    };
    let e = format!("{local}{}@{domain}", rng.random_range(1..99u32));
    if rng.random_bool(0.2) {
        e.to_uppercase()
    } else {
        e
    }
}

fn url_or_handle(rng: &mut ChaCha8Rng, handle: bool) -> String {
    let user = format!(
        "{}{}",
        [
            "camille", "jonas_b", "lucia.g", "giulia", "sanne", "piotr", "joao", "emily"
        ][rng.random_range(0..8usize)],
        rng.random_range(1..999u32)
    );
    if handle {
        return format!("@{user}");
    }
    match rng.random_range(0..10u32) {
        0 => format!("https://www.facebook.com/{user}"),
        1 => format!("instagram.com/{user}"),
        2 => format!("https://www.threads.net/@{user}"),
        3 => format!("https://x.com/{user}"),
        4 => format!("twitter.com/{user}"),
        5 => format!("https://www.tiktok.com/@{user}"),
        6 => format!("https://www.linkedin.com/in/{user}"),
        7 => format!("youtube.com/@{user}"),
        8 => format!("t.me/{user}"),
        _ => format!("https://wa.me/3361234{:04}", rng.random_range(0..10_000u32)),
    }
}

/// Builds a case: `lead value tail`, the value labelled.
fn planted(
    lang: usize,
    region: Option<String>,
    lead: &str,
    value: &str,
    tail: &str,
    entity: Entity,
    what: &str,
) -> Case {
    let text = format!("{lead} {value} {tail}");
    let start = lead.len() + 1;
    Case {
        lang: LANGS[lang].to_owned(),
        region,
        labels: vec![Label {
            start,
            end: start + value.len(),
            entity: Some(entity),
            what: what.to_owned(),
            detail: String::new(),
        }],
        text,
    }
}

/// Near misses and decoys, each with a lead-in that a real post would have.
fn negative(rng: &mut ChaCha8Rng, lang: usize) -> Case {
    let pick = rng.random_range(0..12u32);
    let (lead, value, what): (String, String, &str) = match pick {
        0 => {
            // A card number whose Luhn digit is wrong.
            let mut c = card(rng).into_bytes();
            let last = c.len() - 1;
            c[last] = if c[last] == b'9' { b'0' } else { c[last] + 1 };
            (
                "Réf. carte cadeau".into(),
                String::from_utf8(c).expect("ASCII"),
                "luhn_fail",
            )
        }
        1 => {
            let mut i = iban(rng).into_bytes();
            let last = i.len() - 1;
            i[last] = if i[last] == b'9' {
                b'0'
            } else if i[last].is_ascii_digit() {
                i[last] + 1
            } else {
                i[last]
            };
            (
                "IBAN (faux)".into(),
                String::from_utf8(i).expect("ASCII"),
                "iban_fail",
            )
        }
        2 => {
            let (d, m, y) = (
                rng.random_range(1..29u32),
                rng.random_range(1..13u32),
                rng.random_range(1990..2030u32),
            );
            let v = match rng.random_range(0..3u32) {
                0 => format!("{d:02}/{m:02}/{y}"),
                1 => format!("{d:02}.{m:02}.{y}"),
                _ => format!("{y}-{m:02}-{d:02}"),
            };
            ("Date :".into(), v, "date")
        }
        3 => (
            "Heure :".into(),
            format!(
                "{:02}:{:02}",
                rng.random_range(0..24u32),
                rng.random_range(0..60u32)
            ),
            "time",
        ),
        4 => (
            "Prix :".into(),
            format!(
                "{},{:02} €",
                rng.random_range(1..9999u32),
                rng.random_range(0..100u32)
            ),
            "price",
        ),
        5 => {
            let kw = [
                "commande n°",
                "Bestellnummer",
                "pedido nº",
                "ordine n.",
                "bestelling",
                "zamówienie nr",
                "encomenda n.º",
                "order #",
            ][lang];
            (
                kw.into(),
                rng.random_range(100_000_000..9_999_999_999u64).to_string(),
                "order_number",
            )
        }
        6 => {
            let kw = [
                "facture", "Rechnung", "factura", "fattura", "factuur", "faktura", "fatura",
                "invoice",
            ][lang];
            (
                kw.into(),
                format!(
                    "{}-{}",
                    rng.random_range(2019..2026u32),
                    rng.random_range(100_000..999_999u32)
                ),
                "invoice_number",
            )
        }
        7 => {
            let body = format!("978{}", rng.random_range(100_000_000..999_999_999u64));
            let d: Vec<u32> = body.bytes().map(|b| u32::from(b - b'0')).collect();
            let sum: u32 = d
                .iter()
                .enumerate()
                .map(|(i, v)| if i % 2 == 0 { *v } else { v * 3 })
                .sum();
            let check = (10 - sum % 10) % 10;
            (
                "ISBN".into(),
                format!(
                    "{}-{}-{}-{}-{check}",
                    &body[..3],
                    &body[3..4],
                    &body[4..8],
                    &body[8..]
                ),
                "isbn",
            )
        }
        8 => (
            "version".into(),
            format!(
                "{}.{}.{}",
                rng.random_range(0..20u32),
                rng.random_range(0..50u32),
                rng.random_range(0..100u32)
            ),
            "version",
        ),
        9 => {
            let t = rng.random_range(1_500_000_000..1_800_000_000i64);
            if rng.random_bool(0.5) {
                ("epoch".into(), t.to_string(), "epoch")
            } else {
                (
                    "timestamp".into(),
                    format!(
                        "2024-0{}-1{}T12:{:02}:00Z",
                        rng.random_range(1..10u32),
                        rng.random_range(0..10u32),
                        rng.random_range(0..60u32)
                    ),
                    "iso_timestamp",
                )
            }
        }
        10 => {
            let (pc, city) = [
                ("75011", "Paris"),
                ("10115", "Berlin"),
                ("28013", "Madrid"),
                ("00184", "Roma"),
                ("1012 AB", "Amsterdam"),
                ("00-950", "Warszawa"),
                ("1100-148", "Lisboa"),
                ("SW1A 1AA", "London"),
            ][lang];
            (
                "Code postal".into(),
                format!("{pc} {city}"),
                "postcode_city",
            )
        }
        _ => {
            // A 9- or 11-digit number that passes a weak checksum, with no keyword.
            let v = loop {
                let d = digits(rng, 9);
                if checks::nl_bsn(&d) && d[0] != b'0' {
                    break String::from_utf8(d).expect("ASCII");
                }
            };
            ("Ticket".into(), v, "weak_checksum_no_keyword")
        }
    };
    let text = format!("{lead} {value}.");
    let start = lead.len() + 1;
    Case {
        lang: LANGS[lang].to_owned(),
        region: Some(COUNTRIES[lang].to_owned()),
        labels: vec![Label {
            start,
            end: start + value.len(),
            entity: None,
            what: what.to_owned(),
            detail: String::new(),
        }],
        text,
    }
}

/// The generated corpus for a seed: `per_type` planted cases per entity type
/// (national ids: per id kind), `negatives` near misses and `clean` texts.
pub fn generate(seed: u64, per_type: usize, negatives: usize, clean: usize) -> Vec<Case> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cases = Vec::new();
    for i in 0..per_type {
        let lang = i % 8;
        let region = Some(COUNTRIES[lang].to_owned());
        let mut push =
            |e: Entity, value: String, what: &str, region: Option<String>, rng: &mut ChaCha8Rng| {
                let (lead, tail) = carrier(lang, e, rng);
                cases.push(planted(lang, region, lead, &value, tail, e, what));
            };
        let v = email(&mut rng, lang);
        push(Entity::Email, v, "email", region.clone(), &mut rng);
        let (v, r) = phone(&mut rng);
        push(Entity::Phone, v, "phone", Some(r), &mut rng);
        let v = iban(&mut rng);
        push(Entity::Iban, v, "iban", region.clone(), &mut rng);
        let v = card(&mut rng);
        push(Entity::Card, v, "card", region.clone(), &mut rng);
        let (v, w) = ip(&mut rng);
        push(Entity::Ip, v, w, region.clone(), &mut rng);
        let v = url_or_handle(&mut rng, false);
        push(Entity::Url, v, "profile_url", region.clone(), &mut rng);
        let v = url_or_handle(&mut rng, true);
        push(Entity::Handle, v, "handle", region.clone(), &mut rng);
        // Names: after a cue, after a title, or a listed first name with a surname.
        let surname = SURNAMES[rng.random_range(0..8usize)];
        let surname = if surname.contains(' ') {
            "Jansen"
        } else {
            surname
        };
        let (lead, value) = match rng.random_range(0..3u32) {
            0 => (
                format!("Bonjour, {}", CUES[lang]),
                format!("{} {surname}", FIRST[rng.random_range(0..8usize)]),
            ),
            1 => (format!("Merci à {}", TITLE[lang]), surname.to_owned()),
            _ => ("Hier avec".to_owned(), format!("{} {surname}", FIRST[lang])),
        };
        cases.push(planted(
            lang,
            region.clone(),
            &lead,
            &value,
            CLEAN[lang][0],
            Entity::Person,
            "person",
        ));
        let addr = STREET[lang].replace("{n}", &rng.random_range(1..200u32).to_string());
        cases.push(planted(
            lang,
            region.clone(),
            [
                "J'habite au",
                "Ich wohne in der",
                "Vivo en",
                "Abito in",
                "Ik woon op",
                "Mieszkam na",
                "Moro na",
                "I live at",
            ][lang],
            &addr,
            CLEAN[lang][1],
            Entity::Address,
            "address",
        ));
    }
    for i in 0..per_type * 10 / 4 {
        let lang = i % 8;
        let (v, what, keyword) = national_id(&mut rng, (i % 10) as u32);
        let lead = format!(
            "{} {keyword}",
            ["Mon", "Meine", "Mi", "Il mio", "Mijn", "Mój", "O meu", "My"][lang]
        );
        cases.push(planted(
            lang,
            Some(COUNTRIES[lang].to_owned()),
            &lead,
            &v,
            carrier(lang, Entity::NationalId, &mut rng).1,
            Entity::NationalId,
            what,
        ));
    }
    for i in 0..negatives {
        cases.push(negative(&mut rng, i % 8));
    }
    for i in 0..clean {
        let lang = i % 8;
        let a = CLEAN[lang][rng.random_range(0..CLEAN[lang].len())];
        let b = CLEAN[lang][rng.random_range(0..CLEAN[lang].len())];
        cases.push(Case {
            lang: LANGS[lang].to_owned(),
            region: Some(COUNTRIES[lang].to_owned()),
            text: format!("{a} {b}"),
            labels: Vec::new(),
        });
    }
    cases
}

/// Precision and recall of one entity type, or recall of one row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EntityScore {
    pub planted: u64,
    /// Planted values covered by a span of the right type.
    pub found: u64,
    /// Planted values not wholly covered by spans of any type: still
    /// readable, in part, in the output.
    pub leaked: u64,
    /// Spans of this type.
    pub predicted: u64,
    /// Spans of this type that overlap a planted value of this type.
    pub correct: u64,
}

impl EntityScore {
    pub fn recall(&self) -> f64 {
        if self.planted == 0 {
            1.0
        } else {
            self.found as f64 / self.planted as f64
        }
    }
    pub fn precision(&self) -> f64 {
        if self.predicted == 0 {
            1.0
        } else {
            self.correct as f64 / self.predicted as f64
        }
    }
}

/// A span that a scanner under evaluation replaced: optgate's, or another
/// tool's read from a file. `entity` is `None` for a type optgate has no
/// counterpart for (a date, say): it still alters the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    #[serde(default)]
    pub entity: Option<Entity>,
}

/// Scores of a scanner on a corpus.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub cases: u64,
    pub by_entity: BTreeMap<String, EntityScore>,
    /// Recall per label `what`: `phone_national`, `ipv4`, `fr_nir`, ….
    pub by_kind: BTreeMap<String, EntityScore>,
    /// Recall per label `what` and `detail`, for reading misses.
    pub by_detail: BTreeMap<String, EntityScore>,
    /// Recall of person labels of one word (a mononym or a surname alone,
    /// which a first-name lexicon cannot find) and of two words or more.
    pub person_by_words: BTreeMap<String, EntityScore>,
    pub negatives: u64,
    /// Negatives touched by any replacement.
    pub negatives_scrubbed: u64,
    pub negatives_scrubbed_by_kind: BTreeMap<String, (u64, u64)>,
    pub clean: u64,
    /// Clean texts that came back changed.
    pub clean_changed: u64,
    /// Spans of a type optgate does not have (another tool's).
    pub other_spans: u64,
    /// Misses, for reading: (what, text).
    pub misses: Vec<(String, String)>,
}

impl Report {
    pub fn planted(&self) -> u64 {
        self.by_entity.values().map(|s| s.planted).sum()
    }
    pub fn leaked(&self) -> u64 {
        self.by_entity.values().map(|s| s.leaked).sum()
    }
    pub fn false_positive_rate(&self) -> f64 {
        ratio(self.negatives_scrubbed, self.negatives)
    }
    pub fn clean_changed_rate(&self) -> f64 {
        ratio(self.clean_changed, self.clean)
    }
    /// Found and planted over the label kinds of a row.
    pub fn row(&self, row: &Row) -> (u64, u64) {
        row.whats.iter().fold((0, 0), |(f, p), w| {
            let s = self.by_kind.get(*w).cloned().unwrap_or_default();
            (f + s.found, p + s.planted)
        })
    }
}

/// The keys of [`Report::person_by_words`].
const ONE_WORD: &str = "one word";
const MORE_WORDS: &str = "two words or more";

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// A row of the headline table: label kinds and the recall they must reach.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub name: &'static str,
    pub whats: &'static [&'static str],
    pub target: f64,
}

/// The recall targets of the project, per row.
pub const ROWS: [Row; 11] = [
    Row {
        name: "e-mail",
        whats: &["email"],
        target: 0.99,
    },
    Row {
        name: "IBAN",
        whats: &["iban"],
        target: 0.99,
    },
    Row {
        name: "IPv6",
        whats: &["ipv6"],
        target: 0.99,
    },
    Row {
        name: "card numbers",
        whats: &["card"],
        target: 0.99,
    },
    Row {
        name: "IPv4",
        whats: &["ipv4"],
        target: 0.99,
    },
    Row {
        name: "phones, international",
        whats: &["phone_intl"],
        target: 0.99,
    },
    Row {
        name: "phones, national",
        whats: &["phone_national"],
        target: 0.99,
    },
    Row {
        name: "national id numbers",
        whats: &["national_id"],
        target: 0.99,
    },
    Row {
        name: "profile URLs, handles",
        whats: &["profile_url", "handle"],
        target: 0.95,
    },
    Row {
        name: "street addresses",
        whats: &["address"],
        target: 0.85,
    },
    Row {
        name: "person names",
        whats: &["person"],
        target: 0.85,
    },
];
/// At most this share of decoys altered, and of clean texts changed.
pub const DECOYS_ALTERED_TARGET: f64 = 0.002;
pub const CLEAN_CHANGED_TARGET: f64 = 0.0005;

/// Runs `scanner` over every case.
pub fn evaluate(scanner: &Scanner, cases: &[Case]) -> Report {
    let found: Vec<Vec<Found>> = cases
        .iter()
        .map(|c| {
            scanner
                .find(&c.text, c.region.as_deref())
                .into_iter()
                .map(|s| Found {
                    start: s.start,
                    end: s.end,
                    entity: Some(s.entity),
                })
                .collect()
        })
        .collect();
    evaluate_found(cases, &found)
}

/// Whether the union of `spans` covers `start..end`.
fn covered_by_union(spans: &[Found], start: usize, end: usize) -> bool {
    let mut at = start;
    let mut overlapping: Vec<&Found> = spans
        .iter()
        .filter(|s| s.start < end && start < s.end)
        .collect();
    overlapping.sort_by_key(|s| s.start);
    for s in overlapping {
        if s.start > at {
            return false;
        }
        at = at.max(s.end);
    }
    at >= end
}

/// Scores the spans found in each case (`found[i]` for `cases[i]`).
pub fn evaluate_found(cases: &[Case], found: &[Vec<Found>]) -> Report {
    assert_eq!(cases.len(), found.len(), "one list of spans per case");
    let mut r = Report::default();
    for e in Entity::ALL {
        r.by_entity
            .insert(e.name().to_owned(), EntityScore::default());
    }
    for (case, spans) in cases.iter().zip(found) {
        r.cases += 1;
        for s in spans {
            let Some(entity) = s.entity else {
                r.other_spans += 1;
                continue;
            };
            let score = r
                .by_entity
                .get_mut(entity.name())
                .expect("every entity listed");
            score.predicted += 1;
            if case
                .labels
                .iter()
                .any(|l| l.entity == Some(entity) && s.start < l.end && l.start < s.end)
            {
                score.correct += 1;
            }
        }
        if case.labels.is_empty() {
            r.clean += 1;
            if !spans.is_empty() {
                r.clean_changed += 1;
                let found: Vec<&str> = spans
                    .iter()
                    .filter_map(|s| case.text.get(s.start..s.end))
                    .collect();
                r.misses
                    .push((format!("clean_changed {found:?}"), case.text.clone()));
            }
        }
        for l in &case.labels {
            let touched = spans.iter().any(|s| s.start < l.end && l.start < s.end);
            match l.entity {
                None => {
                    r.negatives += 1;
                    let e = r
                        .negatives_scrubbed_by_kind
                        .entry(l.what.clone())
                        .or_default();
                    e.0 += 1;
                    if touched {
                        r.negatives_scrubbed += 1;
                        e.1 += 1;
                        r.misses
                            .push((format!("negative_scrubbed:{}", l.what), case.text.clone()));
                    }
                }
                Some(entity) => {
                    let covered = spans
                        .iter()
                        .any(|s| s.entity == Some(entity) && s.start <= l.start && s.end >= l.end);
                    let leaked = !covered_by_union(spans, l.start, l.end);
                    let bump = |score: &mut EntityScore| {
                        score.planted += 1;
                        score.found += u64::from(covered);
                        score.leaked += u64::from(leaked);
                    };
                    bump(
                        r.by_entity
                            .get_mut(entity.name())
                            .expect("every entity listed"),
                    );
                    bump(r.by_kind.entry(l.what.clone()).or_default());
                    if entity == Entity::Person {
                        let one_word = case
                            .text
                            .get(l.start..l.end)
                            .is_some_and(|w| w.split_whitespace().count() == 1);
                        let key = if one_word { ONE_WORD } else { MORE_WORDS };
                        bump(r.person_by_words.entry(key.to_owned()).or_default());
                    }
                    if !l.detail.is_empty() {
                        bump(
                            r.by_detail
                                .entry(format!("{}: {}", l.what, l.detail))
                                .or_default(),
                        );
                    }
                    if !covered {
                        let what = if l.detail.is_empty() {
                            format!("missed:{}", l.what)
                        } else {
                            format!("missed:{} ({})", l.what, l.detail)
                        };
                        r.misses.push((what, case.text.clone()));
                    }
                }
            }
        }
    }
    r
}

/// One line per score: its name, labels planted, recall and leaks.
fn recall_rows(s: &mut String, scores: &BTreeMap<String, EntityScore>) {
    for (name, e) in scores {
        s.push_str(&format!(
            "{:<22} {:>8} {:>8.4} {:>8}\n",
            name,
            e.planted,
            e.recall(),
            e.leaked
        ));
    }
}

/// The report as a table for people.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<22} {:>8} {:>8} {:>8} {:>10} {:>8}\n",
        "entity", "planted", "recall", "leaked", "precision", "spans"
    ));
    for (name, e) in &r.by_entity {
        s.push_str(&format!(
            "{:<22} {:>8} {:>8.4} {:>8} {:>10.4} {:>8}\n",
            name,
            e.planted,
            e.recall(),
            e.leaked,
            e.precision(),
            e.predicted
        ));
    }
    s.push_str("\nby kind\n");
    recall_rows(&mut s, &r.by_kind);
    if !r.person_by_words.is_empty() {
        s.push_str("\nperson names by length\n");
        recall_rows(&mut s, &r.person_by_words);
        // The recall a scanner would reach finding every name of two words
        // or more and no name of one.
        let planted: u64 = r.person_by_words.values().map(|e| e.planted).sum();
        let more = r.person_by_words.get(MORE_WORDS).map_or(0, |e| e.planted);
        s.push_str(&format!(
            "{:<22} {:>8} {:>8.4}   (every name of two words or more, none of one)\n",
            "ceiling, no one-word",
            planted,
            ratio(more, planted)
        ));
    }
    s.push_str("\nnegatives scrubbed by kind\n");
    for (name, (n, bad)) in &r.negatives_scrubbed_by_kind {
        s.push_str(&format!("{:<26} {:>5} / {:<5}\n", name, bad, n));
    }
    s.push_str(&format!(
        "\ncases {}  planted {}  leak rate {:.4}  negatives {}  false-positive rate {:.4}  clean {}  clean changed {}\n",
        r.cases,
        r.planted(),
        ratio(r.leaked(), r.planted()),
        r.negatives,
        r.false_positive_rate(),
        r.clean,
        r.clean_changed
    ));
    s
}

/// The headline table: each scanner's recall per row, precision per type,
/// decoys altered and clean texts changed, side by side, with the targets.
/// `reports` holds (scanner name, its report on the same cases).
pub fn render_comparison(reports: &[(&str, &Report)]) -> String {
    let mut s = String::new();
    let head = |s: &mut String, first: &str, last: &str| {
        s.push_str(&format!("{first:<24} {:>8}", "labels"));
        for (name, _) in reports {
            s.push_str(&format!(" {name:>10}"));
        }
        s.push_str(&format!(" {last:>8}\n"));
    };
    head(&mut s, "recall", "target");
    let Some((_, first)) = reports.first() else {
        return s;
    };
    for row in &ROWS {
        let (_, planted) = first.row(row);
        s.push_str(&format!("{:<24} {planted:>8}", row.name));
        for (_, r) in reports {
            let (f, p) = r.row(row);
            if p == 0 {
                s.push_str(&format!(" {:>10}", "-"));
            } else {
                s.push_str(&format!(" {:>10.3}", ratio(f, p)));
            }
        }
        // "!" marks a target missed; a row without labels says nothing.
        let mark = if planted == 0 || ratio(first.row(row).0, planted) >= row.target {
            ""
        } else {
            " !"
        };
        s.push_str(&format!(" {:>8}{mark}\n", format!(">= {:.2}", row.target)));
    }
    let rate_row =
        |s: &mut String, name: &str, n: u64, get: &dyn Fn(&Report) -> f64, target: f64| {
            s.push_str(&format!("{name:<24} {n:>8}"));
            for (_, r) in reports {
                s.push_str(&format!(" {:>9.2}%", 100.0 * get(r)));
            }
            let mark = if get(first) <= target { "" } else { " !" };
            s.push_str(&format!(
                " {:>8}{mark}\n",
                format!("<= {}%", 100.0 * target)
            ));
        };
    rate_row(
        &mut s,
        "decoys altered",
        first.negatives,
        &|r| r.false_positive_rate(),
        DECOYS_ALTERED_TARGET,
    );
    rate_row(
        &mut s,
        "clean texts changed",
        first.clean,
        &|r| r.clean_changed_rate(),
        CLEAN_CHANGED_TARGET,
    );
    s.push('\n');
    head(&mut s, "precision", "");
    for e in Entity::ALL {
        let spans: u64 = reports
            .iter()
            .map(|(_, r)| r.by_entity[e.name()].predicted)
            .sum();
        if spans == 0 {
            continue;
        }
        s.push_str(&format!(
            "{:<24} {:>8}",
            e.name(),
            first.by_entity[e.name()].planted
        ));
        for (_, r) in reports {
            let sc = &r.by_entity[e.name()];
            if sc.predicted == 0 {
                s.push_str(&format!(" {:>10}", "-"));
            } else {
                s.push_str(&format!(" {:>10.3}", sc.precision()));
            }
        }
        s.push('\n');
    }
    s.push_str("\ndecoys altered by kind\n");
    for (kind, (n, _)) in &first.negatives_scrubbed_by_kind {
        s.push_str(&format!("{kind:<24} {n:>8}"));
        for (_, r) in reports {
            let bad = r.negatives_scrubbed_by_kind.get(kind).map_or(0, |x| x.1);
            s.push_str(&format!(" {:>9.2}%", 100.0 * ratio(bad, *n)));
        }
        s.push('\n');
    }
    s
}

/// Reads a JSON-lines corpus.
pub fn read_jsonl(text: &str) -> Result<Vec<Case>, serde_json::Error> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"))
        .map(serde_json::from_str)
        .collect()
}

/// Writes a JSON-lines corpus.
pub fn to_jsonl(cases: &[Case]) -> String {
    let mut s = String::new();
    for c in cases {
        s.push_str(&serde_json::to_string(c).expect("cases serialise"));
        s.push('\n');
    }
    s
}

/// Parses a hand-written case: `lang|REGION|text`, where planted values are
/// marked `[[TYPE:value]]` (TYPE an entity tag such as `PHONE`) and
/// negatives `{{what:value}}`; REGION may be empty.
pub fn parse_marked(line: &str) -> Result<Case, String> {
    let mut parts = line.splitn(3, '|');
    let (Some(lang), Some(region), Some(marked)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("expected lang|region|text: {line}"));
    };
    let mut text = String::new();
    let mut labels = Vec::new();
    let mut rest = marked;
    while let Some(open) = rest.find(['[', '{']) {
        let (opener, closer) = if rest[open..].starts_with("[[") {
            ("[[", "]]")
        } else if rest[open..].starts_with("{{") {
            ("{{", "}}")
        } else {
            text.push_str(&rest[..=open]);
            rest = &rest[open + 1..];
            continue;
        };
        text.push_str(&rest[..open]);
        let inner_start = open + opener.len();
        let close = rest[inner_start..]
            .find(closer)
            .ok_or_else(|| format!("unclosed {opener}: {line}"))?
            + inner_start;
        let inner = &rest[inner_start..close];
        let (tag, value) = inner
            .split_once(':')
            .ok_or_else(|| format!("expected TAG:value in {inner}"))?;
        let start = text.len();
        text.push_str(value);
        let entity = if opener == "[[" {
            Some(
                Entity::ALL
                    .into_iter()
                    .find(|e| e.tag() == tag)
                    .ok_or_else(|| format!("unknown type {tag}"))?,
            )
        } else {
            None
        };
        let what = match entity {
            Some(e) => e.name().to_owned(),
            None => tag.to_owned(),
        };
        labels.push(Label {
            start,
            end: text.len(),
            entity,
            what,
            detail: String::new(),
        });
        rest = &rest[close + closer.len()..];
    }
    text.push_str(rest);
    Ok(Case {
        lang: lang.to_owned(),
        region: (!region.is_empty()).then(|| region.to_owned()),
        text,
        labels,
    })
}

/// Reads hand-written cases, one per line; `#` starts a comment line.
pub fn read_marked(text: &str) -> Result<Vec<Case>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(parse_marked)
        .collect()
}
