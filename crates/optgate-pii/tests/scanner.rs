//! The scanner on examples of every type, in every language, and on decoys.

use optgate_pii::{Entity, Scanner, ScannerConfig};

fn scrub(text: &str, region: Option<&str>) -> String {
    Scanner::new(&ScannerConfig::default())
        .scrub(text, region)
        .text
        .into_owned()
}

/// Each text, scrubbed without a region, gives what is beside it.
fn scrubs_each_to(cases: &[(&str, &str)]) {
    for (text, want) in cases {
        assert_eq!(scrub(text, None), *want, "{text}");
    }
}

/// Each text, scrubbed for its author's region, against what it must become.
fn scrubs_each_in_region_to(cases: &[(&str, Option<&str>, &str)]) {
    for (text, region, want) in cases {
        assert_eq!(scrub(text, *region), *want, "{text}");
    }
}

/// A Czech or Slovak author's bare number that is a birth number, and a
/// phone only in another country's plan, is named a birth number; one the
/// author's own plan takes stays a phone, as the same number from an author
/// elsewhere does.
#[test]
fn a_czech_birth_number_is_no_foreign_phone() {
    scrubs_each_in_region_to(&[
        // Born 2002-01-15, ten digits divisible by eleven.
        ("číslo 0201157682 ok", Some("CZ"), "číslo <NATIONAL_ID> ok"),
        // Nine digits, born 1909-05-31 (no check digit before 1954).
        ("číslo 090531122 ok", Some("SK"), "číslo <NATIONAL_ID> ok"),
        ("Nummer 0201157682 ok", Some("DE"), "Nummer <PHONE> ok"),
        // A Prague number is one, though it reads as a birth on 1922-12-31.
        ("volej 221231456 ok", Some("CZ"), "volej <PHONE> ok"),
    ]);
}

/// A Lithuanian personal code that starts with 9 is given without a birth
/// date: its check digit is all there is to check.
#[test]
fn a_lithuanian_code_given_without_a_birth_date_is_an_id() {
    scrubs_each_in_region_to(&[
        ("kodas 91205041230 ok", Some("LT"), "kodas <NATIONAL_ID> ok"),
        ("ok 98701005559", None, "ok <NATIONAL_ID>"),
        // The check digit off by one.
        ("ok 98701005558", None, "ok 98701005558"),
        // A first digit of 7 would be a birth after 2099.
        ("ok 73309240063", None, "ok 73309240063"),
    ]);
}

#[test]
fn structured_types_are_replaced_by_their_placeholder() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "Écris-moi : Jean.Dupont@Example.FR merci",
            None,
            "Écris-moi : <EMAIL> merci",
        ),
        ("contact: josé.núñez@correo.es", None, "contact: <EMAIL>"),
        (
            "mail an müller@bücher.de bitte",
            None,
            "mail an <EMAIL> bitte",
        ),
        (
            "Appelle au 06 12 34 56 78 ce soir",
            Some("FR"),
            "Appelle au <PHONE> ce soir",
        ),
        ("Ruf an: +49 30 12345678.", None, "Ruf an: <PHONE>."),
        ("Llámame al 0034 612 345 678", None, "Llámame al <PHONE>"),
        ("chiamami 333 123 4567", Some("IT"), "chiamami <PHONE>"),
        ("bel 020-123 4567", Some("NL"), "bel <PHONE>"),
        ("zadzwoń 512 345 678", Some("PL"), "zadzwoń <PHONE>"),
        ("liga 912 345 678", Some("PT"), "liga <PHONE>"),
        ("call (202) 555-0143 now", Some("US"), "call <PHONE> now"),
        ("call 020 7946 0958", Some("GB"), "call <PHONE>"),
        ("IBAN: NL91 ABNA 0417 1643 00.", None, "IBAN: <IBAN>."),
        (
            "iban fr14 2004 1010 0505 0001 3m02 606 ok",
            None,
            "iban <IBAN> ok",
        ),
        (
            "Karte 4111 1111 1111 1111 bitte",
            None,
            "Karte <CARD> bitte",
        ),
        ("card 3782-822463-10005", None, "card <CARD>"),
        ("server 192.168.1.20 down", None, "server <IP> down"),
        ("ipv6 2001:db8::8a2e:370:7334, ok", None, "ipv6 <IP>, ok"),
        (
            "mon NIR 2 55 08 14 168 025 38",
            None,
            "mon NIR <NATIONAL_ID>",
        ),
        (
            "DNI 12345678-Z y NIE X1234567L",
            None,
            "DNI <NATIONAL_ID> y NIE <NATIONAL_ID>",
        ),
        ("CF RSSMRA85T10A562S", None, "CF <NATIONAL_ID>"),
        // Digits written as letters (omocodia), and a check letter off.
        (
            "il mio CF RSSMRA45C12F4LRI !",
            None,
            "il mio CF <NATIONAL_ID> !",
        ),
        // Every digit written as a letter; its check letter right, so no
        // cue is needed.
        ("RSSMRAQRCMNFNLRG. In Cile", None, "<NATIONAL_ID>. In Cile"),
        // A foreigner's CNP (9) and one of the county "any" (70).
        (
            "cod 9850723123454 și 1850723701231",
            Some("RO"),
            "cod <NATIONAL_ID> și <NATIONAL_ID>",
        ),
        ("mijn BSN is 111222333", None, "mijn BSN is <NATIONAL_ID>"),
        ("PESEL: 44051401359", None, "PESEL: <NATIONAL_ID>"),
        (
            "rijksregisternummer 85.07.30-033.28",
            None,
            "rijksregisternummer <NATIONAL_ID>",
        ),
        ("NIF 123456789", None, "NIF <NATIONAL_ID>"),
        ("Steuer-ID 86095742719", None, "Steuer-ID <NATIONAL_ID>"),
        ("NINO AB 12 34 56 C", None, "NINO <NATIONAL_ID>"),
        ("SSN 123-45-6789", None, "SSN <NATIONAL_ID>"),
        (
            "see https://www.facebook.com/jean.dupont.75 !",
            None,
            "see <URL> !",
        ),
        (
            "insta instagram.com/lucia_g y threads.net/@lucia",
            None,
            "insta <URL> y <URL>",
        ),
        (
            "t.me/johnny and wa.me/33612345678.",
            None,
            "<URL> and <URL>.",
        ),
        ("follow @marie_dupont on x", None, "follow <HANDLE> on x"),
    ];
    scrubs_each_in_region_to(cases);
}

#[test]
fn names_and_addresses() {
    let cases: &[(&str, &str)] = &[
        (
            "Bonjour, je m'appelle Claire Martin et j'habite ici",
            "Bonjour, je m'appelle <PERSON> et j'habite ici",
        ),
        ("Ich heiße Jonas Becker.", "Ich heiße <PERSON>."),
        ("Hola, me llamo Lucía Fernández", "Hola, me llamo <PERSON>"),
        (
            "Merci à Mme Lefèvre pour tout",
            "Merci à Mme <PERSON> pour tout",
        ),
        ("Danke, Herr Schmidt!", "Danke, Herr <PERSON>!"),
        // A surname's feminine form after a title: "Kowalska" of "Kowalski".
        ("Dziękuję Pani Kowalska!", "Dziękuję Pani <PERSON>!"),
        // After a title, a word that is no name is left: "Kawa" (coffee).
        ("Pani Kawa jest gorąca", "Pani Kawa jest gorąca"),
        ("Giulia Rossi ha vinto", "<PERSON> ha vinto"),
        (
            "J'habite au 12 rue de la Paix depuis",
            "J'habite au <ADDRESS> depuis",
        ),
        (
            "Wir wohnen in der Hauptstraße 5 seit",
            "Wir wohnen in der <ADDRESS> seit",
        ),
        // After "vivo en", an address introduction, the town is taken too.
        ("Vivo en Calle Mayor 12, Madrid", "Vivo en <ADDRESS>"),
        ("Abito in via Roma 10", "Abito in <ADDRESS>"),
        ("Woon op Kerkstraat 12a", "Woon op <ADDRESS>"),
        ("Mieszkam na ul. Długa 5", "Mieszkam na <ADDRESS>"),
        ("Moro na Rua Augusta, 45", "Moro na <ADDRESS>"),
        ("I live at 221B Baker Street", "I live at <ADDRESS>"),
        // Middle initials, and a monarch's number with the epithet or the
        // realm after it; "I" before a lower-case word is the pronoun.
        ("Thanks to Mary J. Blige", "Thanks to <PERSON>"),
        ("George H.W. Bush spoke", "<PERSON> spoke"),
        ("Carlos I de Inglaterra fue", "<PERSON> fue"),
        ("Louis XIV.", "<PERSON>."),
        ("I told Anna I would come", "I told Anna I would come"),
        // First names from the SSA's baby-name files; the words among them
        // that are more often places or words ("Memphis", "Golden") are
        // not, and a team or a publisher after a name makes it no person.
        (
            "Thanks, Keri Walsh and Dominick Price",
            "Thanks, <PERSON> and <PERSON>",
        ),
        ("the Memphis Grizzlies won", "the Memphis Grizzlies won"),
        // Common words, but far more often a first name before a surname.
        ("met Bill Russell today", "met <PERSON> today"),
        ("Winston Churchill said", "<PERSON> said"),
        ("at Christian Academy", "at Christian Academy"),
        ("at Golden Gate Park", "at Golden Gate Park"),
        (
            "signed with Carlin Motorsport",
            "signed with Carlin Motorsport",
        ),
        // First names of the eight languages as Wiktionary lists them,
        // which the US lists lack, and those two of its languages list
        // ("Daniela"); those that are words ("Ivory") or places are not
        // among them.
        (
            "Na zdjęciu Kazimierz Wróblewski i Wiesława Nowicka.",
            "Na zdjęciu <PERSON> i <PERSON>.",
        ),
        ("Merci à Solène Marchetti !", "Merci à <PERSON> !"),
        ("con Cristoforo Bellini ieri", "con <PERSON> ieri"),
        ("le droit romain classique", "le droit romain classique"),
        ("grazie a Daniela Bianchi", "grazie a <PERSON>"),
        (
            "against the Ivory Coast squad",
            "against the Ivory Coast squad",
        ),
        // After a title or a capitalised preposition, which are no first
        // names themselves, a name is; after a word that starts places, not.
        (
            "and Dame Margaret Greville left her",
            "and Dame <PERSON> left her",
        ),
        ("Con Tommaso Boggio nel 1923", "Con <PERSON> nel 1923"),
        ("the King Street shop", "the King Street shop"),
        ("the Monte Carlo Rally was", "the Monte Carlo Rally was"),
        ("the Casa Rosa Hotel", "the Casa Rosa Hotel"),
        // A firm or a society named after a person is none; after
        // particles, such a word is the sentence's, not the name's.
        (
            "aired on Walt Disney Television in",
            "aired on Walt Disney Television in",
        ),
        (
            "researchers at Bell Labs found",
            "researchers at Bell Labs found",
        ),
        (
            "produzierte Moustapha Akkad den Film",
            "produzierte <PERSON> den Film",
        ),
        // A stadium, an airport, a square or a club named after a person.
        (
            "landed at Aeroporto João Paulo II today",
            "landed at Aeroporto João Paulo II today",
        ),
        (
            "beim FC Carl Zeiss Jena gespielt",
            "beim FC Carl Zeiss Jena gespielt",
        ),
        ("no Estádio José Alvalade", "no Estádio José Alvalade"),
        ("Copa América MVP Lionel Messi", "Copa América MVP <PERSON>"),
        // Two or three capitals after a first name are an acronym: a model
        // or a club, no surname. A regnal number is read as one.
        (
            "con pistolas Walther PPK y municiones",
            "con pistolas Walther PPK y municiones",
        ),
        ("la nouvelle Lexus ES est", "la nouvelle Lexus ES est"),
        ("crowned Carlos II in 1665", "crowned <PERSON> in 1665"),
        ("met Walther Hansen there", "met <PERSON> there"),
        // First names from the dictionary of 54 countries, which the US and
        // European lists lack.
        (
            "Thanks to Nurcan Aydın for the ride",
            "Thanks to <PERSON> for the ride",
        ),
        ("Pervez Akhtar told me", "<PERSON> told me"),
        (
            "wir haben Hüseyin Demir getroffen",
            "wir haben <PERSON> getroffen",
        ),
        // A firm's legal form or a place's word after a first name makes
        // the two a firm or a place.
        (
            "bought it from Tumi Inc yesterday",
            "bought it from Tumi Inc yesterday",
        ),
        ("visited the Golan Heights", "visited the Golan Heights"),
        ("across the Malay Peninsula", "across the Malay Peninsula"),
        // After a particle, an article starts a phrase, not a surname.
        (
            "an der Elbe der Das Konzert war gut",
            "an der Elbe der Das Konzert war gut",
        ),
        ("mit Anna von der Heide", "mit <PERSON>"),
        (
            "war ausverkauft, die Halle der der Saal war voll",
            "war ausverkauft, die Halle der der Saal war voll",
        ),
        ("Jan den Hartog sprak", "<PERSON> sprak"),
        ("com Maria das Dores", "com <PERSON>"),
    ];
    scrubs_each_to(cases);
}

/// Names in a list beside a name found by its first name are names too,
/// whatever their first names; a comma alone makes a list only with a third
/// item, and articles, clubs and places start no name.
#[test]
fn names_listed_beside_a_name() {
    let cases: &[(&str, &str)] = &[
        (
            "Auf der Liste: Oleh Blochin, Anna Nowak und Ihor Bilanov.",
            "Auf der Liste: <PERSON>, <PERSON> und <PERSON>.",
        ),
        (
            "Zagrali Anna Nowak i Wojtek Zieleń",
            "Zagrali <PERSON> i <PERSON>",
        ),
        ("Tippi Hedren and Anna Nowak", "<PERSON> and <PERSON>"),
        ("Best Regards, Anna Nowak", "Best Regards, <PERSON>"),
        (
            "Thanks Anna Nowak, Happy New Year!",
            "Thanks <PERSON>, Happy New Year!",
        ),
        ("Anna Nowak and The Beatles", "<PERSON> and The Beatles"),
        ("Anna Nowak en Buenos Aires", "<PERSON> en Buenos Aires"),
    ];
    scrubs_each_to(cases);
}

/// After a role, two or three capitalised words are a name, whatever the
/// first name; not an acronym, nor a firm or an assembly.
#[test]
fn names_after_a_role() {
    let cases: &[(&str, &str)] = &[
        (
            "le président Shimon Peres a dit",
            "le président <PERSON> a dit",
        ),
        ("papież Benedykt XVI odwiedził", "papież <PERSON> odwiedził"),
        (
            "Der Trainer Otto Rehhagel sagte",
            "Der Trainer <PERSON> sagte",
        ),
        ("with actor Hrithik Roshan.", "with actor <PERSON>."),
        ("trener NAC Breda mówi", "trener NAC Breda mówi"),
        ("General Electric Company", "General Electric Company"),
        ("the General Assembly voted", "the General Assembly voted"),
    ];
    scrubs_each_to(cases);
}

/// "Mark" and "August" start persons' names far more often than the
/// currency, a model or the month; they are the month after a day or a word
/// that comes before a month, and a model before a number. Popular first
/// names that are no word in lower case in any of the eight languages are
/// listed ("Carlo", "Rudolf", "Tomasz").
#[test]
fn first_names_that_are_also_other_words() {
    let cases: &[(&str, &str)] = &[
        ("Mark Twain wrote it", "<PERSON> wrote it"),
        (
            "Der Dichter August Strindberg schrieb",
            "Der Dichter <PERSON> schrieb",
        ),
        ("Im August Urlaub in Spanien", "Im August Urlaub in Spanien"),
        ("Am 12. August Geburtstag", "Am 12. August Geburtstag"),
        ("since August Bank Holiday", "since August Bank Holiday"),
        ("my Canon 5D Mark II Body", "my Canon 5D Mark II Body"),
        ("con Carlo Ancelotti ieri", "con <PERSON> ieri"),
        (
            "spotkanie z Tomaszem, Tomasz Lis był",
            "spotkanie z Tomaszem, <PERSON> był",
        ),
        ("von Rudolf Carnap gelesen", "von <PERSON> gelesen"),
        ("Novi Sad is a city", "Novi Sad is a city"),
    ];
    scrubs_each_to(cases);
}

/// After words that introduce an address, a house number beside a street's
/// name is an address whatever the street word, or without one; the town,
/// postcode and country that follow are taken with it, and the clause after
/// it is left alone.
#[test]
fn addresses_after_an_introduction() {
    let cases: &[(&str, &str)] = &[
        (
            "Ship to 4821 Maple Ridge, Springfield IL 62704 please",
            "Ship to <ADDRESS> please",
        ),
        (
            "mon adresse : 7 impasse des Lilas, 69003 Lyon",
            "mon adresse : <ADDRESS>",
        ),
        (
            "dostawa na Kwiatowa 7/3, 00-950 Warszawa!",
            "dostawa na <ADDRESS>!",
        ),
        (
            "kom langs op Dorpsweg 14 en neem koffie mee",
            "kom langs op <ADDRESS> en neem koffie mee",
        ),
        (
            "deliver to Acme Widgets, 18 Harbour View, Cork. Thanks",
            "deliver to <ADDRESS>. Thanks",
        ),
        (
            "ich wohne in der Brno, Orlí 517/22 und das seit Jahren",
            "ich wohne in der <ADDRESS> und das seit Jahren",
        ),
        ("address: 305 elm st, dayton oh", "address: <ADDRESS>"),
        ("spedire a 9 Vicolo Stretto", "spedire a <ADDRESS>"),
    ];
    scrubs_each_to(cases);
    // Numbers after the same words that are no house numbers.
    for text in [
        "I live at 5 minutes from the beach",
        "livraison à 15 jours, rien de plus",
        "come by at 10 tomorrow",
        "Ich wohne in der Nähe seit 2019",
        "deliver to 5 May at the latest",
        "pasad por 2 veces al día",
        "il fiume passa da un'altitudine di circa 4900 metri a 305 metri nello Yibin",
        "mon adresse a changé 3 fois",
    ] {
        assert_eq!(scrub(text, None), text, "{text}");
    }
}

#[test]
fn decoys_are_left_alone() {
    for (text, region) in [
        ("Rendez-vous le 15/06/2024 à 14:30", Some("FR")),
        ("Termin am 15.06.2024 um 14:30 Uhr", Some("DE")),
        ("ISO 2024-06-15T14:30:00Z and epoch 1718461800", Some("DE")),
        ("Prix : 1 299,00 € au lieu de 1.499,00 €", Some("FR")),
        ("Bestellnummer 4023 1178 9936 bitte angeben", Some("DE")),
        ("Order #123456789 shipped", Some("US")),
        ("numéro de commande 0612345678", Some("FR")),
        ("Facture FA-2024-000123 payée", Some("FR")),
        ("ISBN 978-3-16-148410-0 is a book", None),
        ("version 1.2.3.4 released", None),
        ("16 digits failing Luhn: 4111 1111 1111 1112", None),
        ("Code postal 75011 Paris", Some("FR")),
        ("PLZ 10115 Berlin", Some("DE")),
        ("a nine digit number 123456782 without keyword", None),
        ("Parigi è bella, Roma anche", None),
        ("Meet me at 10:30 or 11:45", None),
        ("Le match de 2000 pièces a duré 3 semaines", None),
        ("email me at jean@localhost", None),
        // After a reference word, a 16-digit number failing Luhn is no
        // phone with a "00" prefix, nor an id because of a "nie" (not) or a
        // club's "CF" before it.
        ("réf. 0047 8186 4229 1562", Some("FR")),
        ("Rif. 0009 2298 2579 2948 - Da", Some("IT")),
        (
            "Władze nie zgodziły (nr ref. 9378852719934574) się",
            Some("PL"),
        ),
        (
            "joined Málaga CF until 30 June. order 631-1018752-5471701",
            Some("ES"),
        ),
        ("portan pasaporte palestino. pedido 7088691940", Some("ES")),
        // A time as a number after "ts=" or "epoch", a web shop's order
        // number (3, 7 and 7 digits) bare.
        ("na CD. ts= 1358928719", None),
        ("log ts=1709000824 ok", Some("CZ")),
        ("epoch 1530708320231", None),
        ("shipped: 336-8846484-6878977 !", Some("IT")),
        ("gekauft 624-3225718-2872113.", Some("PL")),
        // A street word in lower case after a number is a unit.
        ("about 20 square miles of land", None),
        ("up to 100 square kilometers.", Some("GB")),
    ] {
        assert_eq!(scrub(text, region), text, "{text}");
    }
}

/// National numbers: Czech ones have no trunk 0; an area code in brackets
/// is a phone's; an amount in thousands is none; a word announcing a phone
/// outweighs a farther one saying a number is not personal.
#[test]
fn phones_in_national_form() {
    scrubs_each_in_region_to(&[
        ("zavolej 601 123 456", Some("CZ"), "zavolej <PHONE>"),
        ("to je 220160505.", Some("CZ"), "to je <PHONE>."),
        ("this one (022) 39229", Some("NL"), "this one <PHONE>"),
        ("telefoon: 604 082 2682.", Some("GR"), "telefoon: <PHONE>."),
        (
            "wersja systemu Unix. telefon: 021 123 4942",
            Some("RO"),
            "wersja systemu Unix. telefon: <PHONE>",
        ),
        // Luxembourg's plan takes four to eleven digits: ten bare ones are
        // an order number; eight (a fixed line) and nine (a mobile) are read.
        ("voilà 4596438319", Some("LU"), "voilà 4596438319"),
        (
            "pour une saison. 27123552",
            Some("LU"),
            "pour une saison. <PHONE>",
        ),
        ("ok 628123456 ok", Some("LU"), "ok <PHONE> ok"),
        // Nine digits written without a break, valid in a plausible plan
        // other than the author's: a Spanish mobile posted from Germany, a
        // Polish number from the Netherlands. Ten digits so are not.
        (
            "Ruf mich an. 612804870 !",
            Some("DE"),
            "Ruf mich an. <PHONE> !",
        ),
        (
            "Leży na rzece. 123456769",
            Some("NL"),
            "Leży na rzece. <PHONE>",
        ),
        ("bestelling 9839898000", Some("NL"), "bestelling 9839898000"),
        (
            "populace 312 000 000 lidí",
            Some("CZ"),
            "populace 312 000 000 lidí",
        ),
        (
            "kosztował 220 500 000 zł",
            Some("PL"),
            "kosztował 220 500 000 zł",
        ),
        (
            "il y avait 50 210 000 habitants",
            Some("FR"),
            "il y avait 50 210 000 habitants",
        ),
    ]);
}

/// After a word announcing a phone, a phone-shaped number is a phone whether
/// or not its range is assigned: "200 000 000" is no Portuguese number.
#[test]
fn phones_after_the_ways_people_announce_them() {
    assert_eq!(scrub("olha 200 000 000", Some("PT")), "olha 200 000 000");
    for (cue, region) in [
        ("tlm", "PT"),
        ("liga pra", "BR"),
        ("tfno.", "ES"),
        ("give me a call on", "GB"),
        ("nr tel.", "PL"),
        ("mobiel nummer", "NL"),
        ("schreib mir unter", "DE"),
        ("telefonami al", "IT"),
        ("numéro de portable :", "FR"),
    ] {
        let text = format!("{cue} 200 000 000");
        assert_eq!(
            scrub(&text, Some(region)),
            format!("{cue} <PHONE>"),
            "{text}"
        );
    }
}

/// A bare ten-digit number is a time in epoch seconds up to 2030; above,
/// a Bulgarian EGN or a Czech birth number whose date and check hold is an
/// id ("1942069930": born 2019-02-06).
#[test]
fn ten_digit_numbers_are_times_until_2030_then_ids() {
    assert_eq!(scrub("posted 1709000824 ok", None), "posted 1709000824 ok");
    assert_eq!(scrub("posted 1899999999 ok", None), "posted 1899999999 ok");
    assert_eq!(
        scrub("Cornell University. 1942069930", None),
        "Cornell University. <NATIONAL_ID>"
    );
    // The same digits failing the EGN's check are left alone.
    assert_eq!(
        scrub("Cornell University. 1942069931", None),
        "Cornell University. 1942069931"
    );
}

/// "nie" (not) and "dni" (days) are Polish words before they are Spain's
/// ids: in a Polish author's posts, and in a text with a letter only Polish
/// writes, only their capitals make an id-shaped token after them an id
/// whatever its check.
#[test]
fn polish_words_name_no_spanish_id() {
    // 12345678A fails the DNI's check letter (Z): only a cue makes it an id.
    assert_eq!(
        scrub("za 3 dni 12345678A", Some("PL")),
        "za 3 dni 12345678A"
    );
    assert_eq!(scrub("nie 12345678A", Some("PL")), "nie 12345678A");
    assert_eq!(scrub("DNI 12345678A", Some("PL")), "DNI <NATIONAL_ID>");
    assert_eq!(
        scrub("mi dni es 12345678A", Some("ES")),
        "mi dni es <NATIONAL_ID>"
    );
    assert_eq!(
        scrub("osiem dni później. 1550823646", None),
        "osiem dni później. 1550823646"
    );
    assert_eq!(
        scrub("Wrócę za 3 dni 12345678A", Some("DE")),
        "Wrócę za 3 dni 12345678A"
    );
    assert_eq!(scrub("mi dni 12345678A", None), "mi dni <NATIONAL_ID>");
}

/// A word naming a number counts in capitals too, as acronyms are written,
/// whatever its letters: the keyword automaton folds the case of ASCII
/// letters only, so "ЕГН", "EMŠO", "TÉL." and "ZAMÓWIENIA" are looked for
/// as written in capitals as well as in lower case.
#[test]
fn words_naming_a_number_count_in_capitals() {
    scrubs_each_in_region_to(&[
        // Ten digits that fail the EGN's check (and would be a timestamp).
        ("ЕГН: 1234567890 ok", Some("BG"), "ЕГН: <NATIONAL_ID> ok"),
        ("егн: 1234567890 ok", Some("BG"), "егн: <NATIONAL_ID> ok"),
        // Thirteen digits that fail the EMŠO's date and check.
        ("EMŠO: 1234567890123", Some("SI"), "EMŠO: <NATIONAL_ID>"),
        // A number short of a French one, after the cue.
        ("TÉL. : 01 23 45 67 8", Some("FR"), "TÉL. : <PHONE>"),
        // A Polish mobile's digits, as an order number.
        (
            "NR ZAMÓWIENIA 601123456",
            Some("PL"),
            "NR ZAMÓWIENIA 601123456",
        ),
    ]);
}

/// A word announcing a phone or naming an id reaches no number past the
/// end of its sentence, and a sentence that ends on it, after other words,
/// used it as a word ("la Ligue", "Windows Phone"); "CF" beside a
/// capitalised word is a club's, not a codice fiscale; "ISBN" after "ul."
/// names no street. The numbers after them (ISBNs, here) are left alone,
/// while a cue right before a number, or starting its sentence, still
/// counts.
#[test]
fn cues_stop_at_the_end_of_their_sentence() {
    scrubs_each_to(&[
        (
            "participe à la Ligue Europa. 9780773528499",
            "participe à la Ligue Europa. 9780773528499",
        ),
        (
            "Het waren de berichten die hij naar Tel Aviv stuurde. 9780231507387",
            "Het waren de berichten die hij naar Tel Aviv stuurde. 9780231507387",
        ),
        (
            "il loro numero è sceso a 65. 9780773563629",
            "il loro numero è sceso a 65. 9780773563629",
        ),
        (
            "hacerse el pasaporte comunitario. 9780471623793",
            "hacerse el pasaporte comunitario. 9780471623793",
        ),
        (
            "l'un des meilleurs de la ligue. 1002290220",
            "l'un des meilleurs de la ligue. 1002290220",
        ),
        (
            "con sistema operativo Windows Phone. 9780816647774",
            "con sistema operativo Windows Phone. 9780816647774",
        ),
        (
            "joined Málaga CF until 30 June. 9780471623793",
            "joined Málaga CF until 30 June. 9780471623793",
        ),
        (
            "zawodnikiem klubu CF Os Belenenses 9780306406157",
            "zawodnikiem klubu CF Os Belenenses 9780306406157",
        ),
        (
            "w miejscowości Łęknica ul. ISBN 978-1-4200-4561-1",
            "w miejscowości Łęknica ul. ISBN 978-1-4200-4561-1",
        ),
        (
            "środków na ten cel. 9780231508360",
            "środków na ten cel. 9780231508360",
        ),
        // Still cues.
        ("Tel. 0612345678", "Tel. <PHONE>"),
        ("Tel. nr. 0612345678", "Tel. nr. <PHONE>"),
        ("Call me. 0612345678", "Call me. <PHONE>"),
        ("ligue para 912345678", "ligue para <PHONE>"),
        ("il mio CF: RSSMRA45C12F205X", "il mio CF: <NATIONAL_ID>"),
        ("o meu cel. 912345678", "o meu cel. <PHONE>"),
    ]);
}

/// A `00` or `+` and a country code make a phone whether or not the range
/// is assigned, but only with a national number no longer than that
/// country's plans allow: "0058775784970097" is a 16-digit reference, not
/// a Venezuelan number (ten digits).
#[test]
fn international_form_needs_a_national_number_of_a_possible_length() {
    scrubs_each_to(&[
        (
            "Capoluogo del distretto è Castelo Branco. 0058775784970097",
            "Capoluogo del distretto è Castelo Branco. 0058775784970097",
        ),
        ("ref. 0058 2125551234", "ref. 0058 2125551234"),
        ("whatsapp 0058 212 555 1234", "whatsapp <PHONE>"),
        ("bel 0058 2125551234", "bel <PHONE>"),
        ("num: +58 212 555 1234", "num: <PHONE>"),
        // A trunk 0 written after the country code counts as no digit.
        ("+44 020 7946 0958", "<PHONE>"),
    ]);
}

/// An ISBN-10 with hyphens is left alone in any grouping, its check a
/// digit or an X, in a Polish author's post too, whose plan takes most
/// nine digits as a phone; a phone number in hyphens still is one.
#[test]
fn isbn_10_with_hyphens_or_an_x_is_no_phone() {
    for text in [
        "The book came out last year. 4-11-763917-X",
        "The book came out last year. 660592620-X",
        "The book came out last year. 698198463-6",
        "The book came out last year. 0-306-40615-2",
    ] {
        assert_eq!(scrub(text, Some("PL")), text);
    }
    assert_eq!(scrub("zadzwoń 600-123-456", Some("PL")), "zadzwoń <PHONE>");
}

/// Surnames with the particles and elided articles of Arabic, Hebrew,
/// French and Italian names, and with a typographic apostrophe.
#[test]
fn surnames_with_particles_and_elisions() {
    scrubs_each_to(&[
        (
            "the death of Osama bin Laden was",
            "the death of <PERSON> was",
        ),
        ("Rabbi Asher ben Jehiel wrote", "Rabbi <PERSON> wrote"),
        (
            "Premierminister Rafiq al-Hariri durch",
            "Premierminister <PERSON> durch",
        ),
        (
            "le meurtre de Hassan el-Banna, fondateur",
            "le meurtre de <PERSON>, fondateur",
        ),
        ("Schüler von Vincent d’Indy.", "Schüler von <PERSON>."),
        ("Schüler von Vincent d'Indy.", "Schüler von <PERSON>."),
        (
            "il duca Cesare d’Este rinunciò",
            "il duca <PERSON> rinunciò",
        ),
        (
            "I met Shaquille O’Neal yesterday",
            "I met <PERSON> yesterday",
        ),
        // A generation's suffix, and a realm written on an elided particle
        // after a monarch's number.
        ("sposò Sammy Davis Jr. nel 1960", "sposò <PERSON> nel 1960"),
        ("Martin Luther King, Jr. said", "<PERSON> said"),
        (
            "concessa da Carlo V d'Asburgo durante",
            "concessa da <PERSON> durante",
        ),
        // A lower-case word after the particle is no surname.
        ("Marco ben sapeva", "Marco ben sapeva"),
        ("Maria d'accordo", "Maria d'accordo"),
    ]);
}

#[test]
fn clean_text_is_borrowed_unchanged() {
    let s = Scanner::new(&ScannerConfig::default());
    let text = "Heute endlich den Balkon bepflanzt, jetzt fehlen nur noch die Kräuter.";
    let out = s.scrub(text, Some("DE"));
    assert!(matches!(out.text, std::borrow::Cow::Borrowed(t) if t == text));
    assert_eq!(out.counts.total(), 0);
}

#[test]
fn disabled_types_are_kept() {
    let s = Scanner::new(&ScannerConfig {
        entities: vec![optgate_pii::Entity::Email],
        ..ScannerConfig::default()
    });
    assert_eq!(
        s.scrub("a@b.fr +49 30 12345678", None).text,
        "<EMAIL> +49 30 12345678"
    );
    let s = Scanner::new(&ScannerConfig {
        placeholder: "[{}]".into(),
        ..ScannerConfig::default()
    });
    assert_eq!(s.scrub("a@b.fr", None).text, "[EMAIL]");
}

#[test]
fn placeholder_that_brings_an_id_keyword_near_a_number_is_scrubbed_to_the_end() {
    // The URL and the name are shorter as placeholders, which brings "BSN"
    // within reach of a number that passes the BSN check: the output must not
    // hold what the scanner finds in the output itself.
    let text = "BSN \u{202f}\u{a0}facebook.com/je m'appelle Łukasz  001010001";
    let scanner = Scanner::new(&ScannerConfig::default());
    let s = scanner.scrub(text, None);
    assert_eq!(
        s.text,
        "BSN \u{202f}\u{a0}<URL> m'appelle <PERSON>  <NATIONAL_ID>"
    );
    assert_eq!(s.counts.get(Entity::Url), 1);
    assert_eq!(s.counts.get(Entity::Person), 1);
    assert_eq!(s.counts.get(Entity::NationalId), 1);
    assert_eq!(scanner.scrub(&s.text, None).text, s.text);
}

#[test]
fn non_geographic_international_numbers_are_scrubbed_not_a_panic() {
    // +800 (international freephone) and the other non-geographic codes share
    // one region id in the phone metadata; the validity check once looked
    // their plans up by an address that only one of them had, and panicked.
    let scanner = Scanner::new(&ScannerConfig::default());
    for (text, want) in [
        (
            "Appelez le +800 1234 5678 gratuitement.",
            "Appelez le <PHONE> gratuitement.",
        ),
        ("Inmarsat: +870 301 234 567.", "Inmarsat: <PHONE>."),
        ("Satellite +881 6 1234 5678 ok", "Satellite <PHONE> ok"),
    ] {
        assert_eq!(scanner.scrub(text, Some("FR")).text, want, "{text}");
    }
}

#[test]
#[should_panic(expected = "one region hint per text")]
fn a_batch_needs_a_region_hint_for_every_text() {
    use optgate_pii::TextScrubber;
    let scanner = Scanner::new(&ScannerConfig::default());
    scanner.scrub_texts(&[Some("a"), Some("b")], &[None]);
}

/// A region hint is read whatever its case and surrounding spaces; one that
/// names no region reads no number in a region's national form (a number
/// with its country code is still one).
#[test]
fn region_hints_are_read_in_any_case() {
    for region in ["IT", "it", " It ", "iT\t"] {
        assert_eq!(
            scrub("chiamami 333 123 4567", Some(region)),
            "chiamami <PHONE>",
            "{region:?}"
        );
    }
    // A hint that names no region is read as none: the number is tried in
    // the plausible regions, as without a hint.
    for region in ["ITA", "ITALY", "", "  ", "XX", "é"] {
        assert_eq!(
            scrub("vedi 612804870", Some(region)),
            scrub("vedi 612804870", None),
            "{region:?}"
        );
        assert_eq!(
            scrub("vedi 333 123 4567", Some(region)),
            scrub("vedi 333 123 4567", None),
            "{region:?}"
        );
        assert_eq!(
            scrub("chiamami +39 333 123 4567", Some(region)),
            "chiamami <PHONE>",
            "{region:?}"
        );
    }
}
