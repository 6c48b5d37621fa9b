//! Deterministic sample data that follows the data contract and holds the
//! cases the policy must get right.
//!
//! For a given seed and options the files are identical on every machine:
//! the generator draws from ChaCha8, whose stream is fixed by its seed.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    Date32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use optgate_core::dates::days_from_date;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{IoError, Result};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    pub posts: u64,
    pub seed: u64,
    /// Write every id column as int64 instead of utf8.
    pub int_ids: bool,
    /// Number of posts files; `None` picks one per 250,000 posts, at least 4.
    pub files: Option<usize>,
    /// Rows per row group; `None` gives four row groups per file.
    pub row_group_rows: Option<usize>,
    /// Also write `dedup-truth.jsonl`: how each post's text was made, and
    /// which posts must be one after deduplication (`make dedup-eval`).
    pub dedup_truth: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            posts: 10_000,
            seed: 42,
            int_ids: false,
            files: None,
            row_group_rows: None,
            dedup_truth: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleSummary {
    pub posts: u64,
    pub post_files: usize,
    pub authors: u64,
    pub account_rows: u64,
    pub optout_rows: u64,
    pub consent_rows: u64,
}

/// First post id and first author id: ids are decimal numbers, so the utf8 and
/// int64 forms of a sample name the same people.
const POST_ID_BASE: i64 = 1_000_000_000;
const AUTHOR_ID_BASE: i64 = 100_000_000;
/// Ids in the registries that no post or account has.
const UNKNOWN_ID_BASE: i64 = 900_000_000;

/// The posting period: 2019-01-01 to 2025-12-31, in seconds.
const PERIOD_START: i64 = 1_546_300_800;
const PERIOD_END: i64 = 1_767_225_599;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthorKind {
    Adult,
    /// Turns 18 during the posting period.
    ComingOfAge,
    /// Born on 29 February, turns 18 during the posting period.
    LeapDay,
    Minor,
    UnknownBirth,
    /// Two accounts rows with different birth dates.
    Conflicting,
    /// Two identical accounts rows.
    Duplicated,
    NoAccount,
}

#[derive(Debug, Clone, Copy)]
struct Author {
    kind: AuthorKind,
    /// Days since the epoch.
    birth_day: i32,
    lang: usize,
}

const LANGS: [&str; 8] = ["fr", "de", "es", "it", "nl", "pl", "pt", "en"];
const COUNTRIES: [&str; 8] = ["FR", "DE", "ES", "IT", "NL", "PL", "PT", "IE"];

/// Sentence fragments per language (same order as `LANGS`).
const PHRASES: [&[&str]; 8] = [
    &[
        "Superbe journée au marché ce matin, les tomates étaient enfin mûres.",
        "Quelqu'un connaît un bon garagiste près de la gare ?",
        "On a fini le puzzle de 2000 pièces après trois semaines d'efforts.",
        "Le concert d'hier soir était incroyable, la salle était pleine à craquer.",
        "Je recommande vivement ce petit restaurant italien du quartier.",
        "Les enfants ont adoré la sortie au musée d'histoire naturelle.",
        "Il pleut depuis lundi, le jardin n'en demandait pas tant.",
        "Nouvelle recette testée ce week-end : tarte aux poireaux et chèvre.",
    ],
    &[
        "Heute endlich den Balkon bepflanzt, jetzt fehlen nur noch die Kräuter.",
        "Kennt jemand eine gute Werkstatt in der Nähe vom Hauptbahnhof?",
        "Das Konzert gestern Abend war unglaublich, die Halle war ausverkauft.",
        "Wir haben am Wochenende eine lange Radtour an der Elbe gemacht.",
        "Der neue Bäcker an der Ecke macht wirklich die besten Brezeln.",
        "Nach drei Wochen ist das Puzzle mit 2000 Teilen endlich fertig.",
        "Seit Montag regnet es ununterbrochen, der Garten freut sich.",
        "Neues Rezept ausprobiert: Flammkuchen mit Birne und Ziegenkäse.",
    ],
    &[
        "Hoy por fin hemos terminado de pintar el salón, ha quedado precioso.",
        "¿Alguien conoce un buen taller mecánico cerca de la estación?",
        "El concierto de anoche fue increíble, la sala estaba llena.",
        "Este fin de semana hicimos una ruta en bici por la costa.",
        "Recomiendo muchísimo la panadería nueva de la plaza mayor.",
        "Después de tres semanas terminamos el puzle de 2000 piezas.",
        "Lleva lloviendo desde el lunes y el huerto lo agradece.",
        "Receta nueva del domingo: tortilla de patatas con cebolla caramelizada.",
    ],
    &[
        "Finalmente abbiamo finito di dipingere il soggiorno, è venuto benissimo.",
        "Qualcuno conosce un buon meccanico vicino alla stazione?",
        "Il concerto di ieri sera è stato incredibile, la sala era piena.",
        "Questo fine settimana abbiamo fatto un giro in bici sul lago.",
        "Consiglio vivamente la nuova pasticceria in piazza.",
        "Dopo tre settimane abbiamo finito il puzzle da 2000 pezzi.",
        "Piove da lunedì e l'orto ringrazia.",
        "Nuova ricetta provata domenica: risotto alla zucca e salvia.",
    ],
    &[
        "Vandaag eindelijk de tuin op orde gebracht, nu nog wat kruiden planten.",
        "Weet iemand een goede garage in de buurt van het station?",
        "Het concert gisteravond was geweldig, de zaal was uitverkocht.",
        "Dit weekend een lange fietstocht langs de kust gemaakt.",
        "De nieuwe bakker op de hoek heeft echt het lekkerste brood.",
        "Na drie weken is de puzzel van 2000 stukjes eindelijk af.",
        "Het regent al sinds maandag, de moestuin is er blij mee.",
        "Nieuw recept geprobeerd: stamppot met spruitjes en spekjes.",
    ],
    &[
        "Dzisiaj w końcu skończyliśmy malować salon, wygląda świetnie.",
        "Czy ktoś zna dobrego mechanika w okolicy dworca?",
        "Wczorajszy koncert był niesamowity, sala była pełna.",
        "W ten weekend pojechaliśmy na długą wycieczkę rowerową nad jezioro.",
        "Polecam nową piekarnię przy rynku, chleb jest wyśmienity.",
        "Po trzech tygodniach ułożyliśmy puzzle z 2000 elementów.",
        "Pada od poniedziałku, ogród jest zadowolony.",
        "Nowy przepis na niedzielę: pierogi z kapustą i grzybami.",
    ],
    &[
        "Hoje finalmente acabámos de pintar a sala, ficou lindíssima.",
        "Alguém conhece uma boa oficina perto da estação?",
        "O concerto de ontem à noite foi incrível, a sala estava cheia.",
        "Este fim de semana fizemos um passeio de bicicleta pela costa.",
        "Recomendo muito a nova pastelaria da praça, os pastéis são ótimos.",
        "Depois de três semanas terminámos o puzzle de 2000 peças.",
        "Chove desde segunda-feira e a horta agradece.",
        "Receita nova de domingo: bacalhau à Brás com azeitonas.",
    ],
    &[
        "Finally finished painting the living room today, it looks great.",
        "Does anyone know a good mechanic near the train station?",
        "Last night's concert was incredible, the venue was packed.",
        "We did a long bike ride along the coast this weekend.",
        "Highly recommend the new bakery on the square, the bread is superb.",
        "After three weeks we finally finished the 2000-piece puzzle.",
        "It has been raining since Monday and the garden is grateful.",
        "New recipe tried on Sunday: leek and goat cheese tart.",
    ],
];

/// Personal data sometimes woven into a post, so scrubbing has work to do.
const PII_SNIPPETS: [&str; 6] = [
    "Écrivez-moi à marie.dupont@example.fr pour les détails.",
    "Ruf mich an unter +49 30 12345678, ich bin ab 18 Uhr da.",
    "Mi correo es lucia.garcia@example.es por si acaso.",
    "Chiamami al +39 06 1234 5678 quando vuoi.",
    "IBAN voor de terugbetaling: NL91 ABNA 0417 1643 00.",
    "Call me on +44 20 7946 0958 after six.",
];

fn day(y: i32, m: u32, d: u32) -> i32 {
    days_from_date(NaiveDate::from_ymd_opt(y, m, d).expect("generator dates are valid"))
}

/// The author roster: the same for every seed-equal run.
fn authors(rng: &mut ChaCha8Rng, n: usize) -> Vec<Author> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // The first authors cover every kind, so even a tiny sample has each case.
        let kind = if i < 8 {
            [
                AuthorKind::ComingOfAge,
                AuthorKind::LeapDay,
                AuthorKind::Minor,
                AuthorKind::UnknownBirth,
                AuthorKind::Conflicting,
                AuthorKind::Duplicated,
                AuthorKind::NoAccount,
                AuthorKind::Adult,
            ][i]
        } else {
            match rng.random_range(0..1000u32) {
                0..60 => AuthorKind::ComingOfAge,
                60..65 => AuthorKind::LeapDay,
                65..95 => AuthorKind::Minor,
                95..125 => AuthorKind::UnknownBirth,
                125..135 => AuthorKind::Conflicting,
                135..145 => AuthorKind::Duplicated,
                145..165 => AuthorKind::NoAccount,
                _ => AuthorKind::Adult,
            }
        };
        let birth_day = match kind {
            // 18th birthday between 2019-03-01 and 2025-10-31.
            AuthorKind::ComingOfAge => rng.random_range(day(2001, 3, 1)..day(2007, 10, 31)),
            AuthorKind::LeapDay => [day(2004, 2, 29), day(2004, 2, 29), day(2000, 2, 29)][i % 3],
            AuthorKind::Minor => rng.random_range(day(2008, 1, 1)..day(2012, 12, 31)),
            _ => rng.random_range(day(1940, 1, 1)..day(2000, 12, 31)),
        };
        out.push(Author {
            kind,
            birth_day,
            lang: rng.random_range(0..LANGS.len()),
        });
    }
    out
}

fn id_field(name: &str, int_ids: bool, nullable: bool) -> Field {
    Field::new(
        name,
        if int_ids {
            DataType::Int64
        } else {
            DataType::Utf8
        },
        nullable,
    )
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Builds an id column in the chosen representation.
struct IdBuilder {
    int: Option<Int64Builder>,
    utf8: Option<StringBuilder>,
}

impl IdBuilder {
    fn new(int_ids: bool) -> Self {
        if int_ids {
            IdBuilder {
                int: Some(Int64Builder::new()),
                utf8: None,
            }
        } else {
            IdBuilder {
                int: None,
                utf8: Some(StringBuilder::new()),
            }
        }
    }

    fn append(&mut self, id: Option<i64>) {
        match (&mut self.int, &mut self.utf8) {
            (Some(b), _) => b.append_option(id),
            (_, Some(b)) => b.append_option(id.map(|v| v.to_string())),
            _ => unreachable!("one representation is always set"),
        }
    }

    fn finish(mut self) -> ArrayRef {
        match (&mut self.int, &mut self.utf8) {
            (Some(b), _) => Arc::new(b.finish()),
            (_, Some(b)) => Arc::new(b.finish()),
            _ => unreachable!("one representation is always set"),
        }
    }
}

fn writer(path: &Path, schema: SchemaRef) -> Result<ArrowWriter<File>> {
    let file = File::create(path).map_err(|source| IoError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    ArrowWriter::try_new(file, schema, Some(props)).map_err(|source| IoError::WriteParquet {
        path: path.to_path_buf(),
        source,
    })
}

fn write_table(path: &Path, batch: RecordBatch) -> Result<()> {
    let mut w = writer(path, batch.schema())?;
    let err = |source| IoError::WriteParquet {
        path: path.to_path_buf(),
        source,
    };
    w.write(&batch).map_err(err)?;
    w.close().map_err(err)?;
    Ok(())
}

fn batch(path: &Path, schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, columns).map_err(|e| IoError::WriteParquet {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// Writes `out/posts/part-*.parquet`, `out/accounts.parquet`,
/// `out/optouts.parquet` and `out/consents.parquet`.
pub fn generate(out: &Path, opts: &SampleOptions) -> Result<SampleSummary> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let n_authors = (opts.posts / 20).max(50) as usize;
    let roster = authors(&mut rng, n_authors);
    let posts_dir = out.join("posts");
    fs::create_dir_all(&posts_dir).map_err(|source| IoError::Write {
        path: posts_dir.clone(),
        source,
    })?;

    let account_rows = write_accounts(
        &out.join("accounts.parquet"),
        &roster,
        opts.int_ids,
        &mut rng,
    )?;
    let optout_rows = write_optouts(
        &out.join("optouts.parquet"),
        &roster,
        opts.int_ids,
        &mut rng,
    )?;
    let consent_rows = write_consents(
        &out.join("consents.parquet"),
        &roster,
        opts.int_ids,
        &mut rng,
    )?;
    let post_files = write_posts(&posts_dir, &roster, opts, &mut rng)?;

    Ok(SampleSummary {
        posts: opts.posts,
        post_files: post_files.len(),
        authors: n_authors as u64,
        account_rows,
        optout_rows,
        consent_rows,
    })
}

fn write_accounts(
    path: &Path,
    roster: &[Author],
    int_ids: bool,
    rng: &mut ChaCha8Rng,
) -> Result<u64> {
    let schema = Arc::new(Schema::new(vec![
        id_field("user_id", int_ids, false),
        Field::new("birth_date", DataType::Date32, true),
        Field::new("country", DataType::Utf8, true),
    ]));
    let (mut ids, mut births, mut countries) = (
        IdBuilder::new(int_ids),
        Date32Builder::new(),
        StringBuilder::new(),
    );
    let mut rows = 0u64;
    for (i, a) in roster.iter().enumerate() {
        let id = AUTHOR_ID_BASE + i as i64;
        let country = (rng.random_range(0..100u32) >= 3).then_some(COUNTRIES[a.lang]);
        let entries: Vec<Option<i32>> = match a.kind {
            AuthorKind::NoAccount => vec![],
            AuthorKind::UnknownBirth => vec![None],
            AuthorKind::Conflicting => vec![Some(a.birth_day), Some(a.birth_day - 3650)],
            AuthorKind::Duplicated => vec![Some(a.birth_day), Some(a.birth_day)],
            _ => vec![Some(a.birth_day)],
        };
        for b in entries {
            ids.append(Some(id));
            births.append_option(b);
            countries.append_option(country);
            rows += 1;
        }
    }
    let b = batch(
        path,
        schema,
        vec![
            ids.finish(),
            Arc::new(births.finish()),
            Arc::new(countries.finish()),
        ],
    )?;
    write_table(path, b)?;
    Ok(rows)
}

fn micros(secs: i64) -> i64 {
    secs * 1_000_000
}

fn write_optouts(
    path: &Path,
    roster: &[Author],
    int_ids: bool,
    rng: &mut ChaCha8Rng,
) -> Result<u64> {
    let schema = Arc::new(Schema::new(vec![
        id_field("user_id", int_ids, false),
        Field::new("objected_at", ts_type(), true),
    ]));
    let (mut ids, mut at) = (IdBuilder::new(int_ids), TimestampMicrosecondBuilder::new());
    let mut rows = 0u64;
    let mut push = |id: i64, t: i64, ids: &mut IdBuilder, at: &mut TimestampMicrosecondBuilder| {
        ids.append(Some(id));
        at.append_value(micros(t));
        rows += 1;
    };
    for i in 0..roster.len() {
        // Author 7 (an adult) always objects, twice, so even the smallest sample has
        // an objector and a repeated objection.
        if i != 7 && rng.random_range(0..100u32) >= 6 {
            continue;
        }
        let id = AUTHOR_ID_BASE + i as i64;
        // Before the posting period, inside it, or after it: all retroactive.
        let t = match rng.random_range(0..3u32) {
            0 => rng.random_range(PERIOD_START - 86_400 * 365..PERIOD_START),
            1 => rng.random_range(PERIOD_START..PERIOD_END),
            _ => rng.random_range(PERIOD_END..PERIOD_END + 86_400 * 300),
        };
        push(id, t, &mut ids, &mut at);
        if i == 7 || rng.random_range(0..100u32) < 20 {
            // The same person objecting again.
            push(id, t + rng.random_range(1..86_400 * 90), &mut ids, &mut at);
        }
    }
    // People the dataset does not know.
    for k in 0..(roster.len() / 50).max(3) {
        push(
            UNKNOWN_ID_BASE + k as i64,
            rng.random_range(PERIOD_START..PERIOD_END),
            &mut ids,
            &mut at,
        );
    }
    // An objection whose date was lost: it still applies.
    ids.append(Some(UNKNOWN_ID_BASE + 999_999));
    at.append_null();
    rows += 1;
    let b = batch(
        path,
        schema,
        vec![ids.finish(), Arc::new(at.finish().with_timezone("UTC"))],
    )?;
    write_table(path, b)?;
    Ok(rows)
}

fn write_consents(
    path: &Path,
    roster: &[Author],
    int_ids: bool,
    rng: &mut ChaCha8Rng,
) -> Result<u64> {
    let schema = Arc::new(Schema::new(vec![
        id_field("user_id", int_ids, false),
        Field::new("consented_at", ts_type(), true),
        Field::new("withdrawn_at", ts_type(), true),
    ]));
    let (mut ids, mut c, mut w) = (
        IdBuilder::new(int_ids),
        TimestampMicrosecondBuilder::new(),
        TimestampMicrosecondBuilder::new(),
    );
    let mut rows = 0u64;
    for i in 0..roster.len() {
        if rng.random_range(0..100u32) >= 40 {
            continue;
        }
        let id = AUTHOR_ID_BASE + i as i64;
        let t = rng.random_range(PERIOD_START..PERIOD_END);
        let roll = rng.random_range(0..100u32);
        ids.append(Some(id));
        c.append_value(micros(t));
        if roll < 15 {
            // Withdrawn later.
            w.append_value(micros(t + rng.random_range(1..86_400 * 200)));
        } else {
            w.append_null();
        }
        rows += 1;
        if roll < 5 {
            // Withdrawn, then consented again.
            ids.append(Some(id));
            c.append_value(micros(t + 86_400 * 365));
            w.append_null();
            rows += 1;
        }
    }
    for k in 0..3 {
        ids.append(Some(UNKNOWN_ID_BASE + 500_000 + k));
        c.append_value(micros(PERIOD_START + k * 86_400));
        w.append_null();
        rows += 1;
    }
    let b = batch(
        path,
        schema,
        vec![
            ids.finish(),
            Arc::new(c.finish().with_timezone("UTC")),
            Arc::new(w.finish().with_timezone("UTC")),
        ],
    )?;
    write_table(path, b)?;
    Ok(rows)
}

/// The timestamp (seconds) at which an author comes of age: their 18th birthday, midnight UTC.
fn coming_of_age_secs(a: &Author) -> i64 {
    let day = optgate_core::dates::coming_of_age_day(a.birth_day, 18)
        .expect("generator dates are in range");
    i64::from(day) * 86_400
}

fn pick<'a>(rng: &mut ChaCha8Rng, weighted: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total);
    for (v, w) in weighted {
        if r < *w {
            return v;
        }
        r -= w;
    }
    weighted[weighted.len() - 1].0
}

fn text(rng: &mut ChaCha8Rng, lang: usize) -> String {
    let phrases = PHRASES[lang];
    let mut s = String::with_capacity(256);
    // About 200 bytes: three sentences, sometimes with personal data.
    for k in 0..3 {
        if k > 0 {
            s.push(' ');
        }
        s.push_str(phrases[rng.random_range(0..phrases.len())]);
    }
    if rng.random_range(0..100u32) < 8 {
        s.push(' ');
        s.push_str(PII_SNIPPETS[rng.random_range(0..PII_SNIPPETS.len())]);
    }
    s
}

/// A post's own text: three sentences of the language, a third of whose
/// words in lower case are swapped for other such words of its sentences (so that two posts
/// written apart share few of their words, as two people's posts do), then
/// sometimes personal data, left whole.
fn varied_text(rng: &mut ChaCha8Rng, lang: usize) -> String {
    let phrases = PHRASES[lang];
    let mut s = String::with_capacity(256);
    for k in 0..3 {
        let sentence = phrases[rng.random_range(0..phrases.len())];
        for (w, word) in sentence.split(' ').enumerate() {
            if k > 0 || w > 0 {
                s.push(' ');
            }
            // Words in lower case only, for one in lower case: no two
            // capitalised words come together that did not (which would
            // read as a name).
            let lower = |w: &str| w.chars().next().is_some_and(char::is_lowercase);
            if lower(word) && rng.random_range(0..3u32) == 0 {
                let other = phrases[rng.random_range(0..phrases.len())];
                let words: Vec<&str> = other.split(' ').filter(|w| lower(w)).collect();
                s.push_str(if words.is_empty() {
                    word
                } else {
                    words[rng.random_range(0..words.len())]
                });
            } else {
                s.push_str(word);
            }
        }
    }
    if rng.random_range(0..100u32) < 8 {
        s.push(' ');
        s.push_str(PII_SNIPPETS[rng.random_range(0..PII_SNIPPETS.len())]);
    }
    s
}

/// Hashtags that end a post, so that posts written apart differ: three of
/// these after the sentences give some 10^11 texts per language.
const TAGS: [&str; 40] = [
    "weekend",
    "family",
    "garden",
    "cooking",
    "bike",
    "music",
    "concert",
    "puzzle",
    "rain",
    "sunday",
    "bakery",
    "coffee",
    "city",
    "travel",
    "friends",
    "home",
    "spring",
    "autumn",
    "photo",
    "sport",
    "football",
    "reading",
    "books",
    "market",
    "dinner",
    "lunch",
    "kids",
    "dog",
    "cat",
    "work",
    "holiday",
    "beach",
    "mountains",
    "lake",
    "train",
    "station",
    "neighbours",
    "local",
    "tbt",
    "mood",
];

/// Messages written from a template, that differ only in the personal data
/// in them: one text once scrubbed.
const TEMPLATED: [&str; 4] = [
    "Call me on +44 20 7946 {} after six for the spare tickets.",
    "Ruf mich an unter +49 30 1234 {}, ich bin ab 18 Uhr da.",
    "Écrivez-moi à contact{}@example.fr pour les détails de la vente.",
    "DM me or mail giveaway{}@example.com to enter the giveaway!",
];

/// Near misses: one template, different content, which must not merge.
const FOR_SALE: [&str; 6] = ["bike", "sofa", "guitar", "pram", "desk", "lawnmower"];
const SHORT: [&str; 6] = [
    "Happy birthday, have a great day!",
    "Happy birthday, enjoy your day!",
    "Congratulations to you both!",
    "Congratulations, well deserved!",
    "Thanks for sharing!",
    "Thanks for the lovely evening!",
];

/// The texts of the generated posts. Most are written once: sentences of
/// the author's language, a third of their words swapped, and three
/// hashtags. The rest are the duplicates
/// social media makes, planted at fixed rates:
///
/// - 3% exact reposts of an earlier post (of any file);
/// - 1.5% copies with an edit the exact normalisation absorbs (case,
///   a line break, two spaces after a full stop);
/// - 1.5% copies with an edit it does not (an emoji or a hashtag added, two
///   letters swapped): near duplicates;
/// - 2% templated messages that differ only in their personal data;
/// - 2% near misses: one template with other content (an item for sale and
///   its price), and short posts that share common phrases.
struct PostTexts {
    /// Earlier texts that a repost may copy (a sample of the posts so far),
    /// with their label.
    earlier: Vec<(String, String)>,
    /// With `dedup_truth`: each post's id, how its text was made, and its
    /// label (posts whose texts must be one after deduplication share it).
    truth: Option<Vec<(i64, &'static str, String)>>,
}

/// Earlier texts kept for reposts.
const EARLIER_KEPT: usize = 4096;

impl PostTexts {
    fn new(truth: bool) -> PostTexts {
        PostTexts {
            earlier: Vec::with_capacity(EARLIER_KEPT),
            truth: truth.then(Vec::new),
        }
    }

    /// The text of post `post_id`.
    fn next(&mut self, rng: &mut ChaCha8Rng, lang: usize, post_id: i64) -> String {
        let (text, kind, label) = self.make(rng, lang, post_id);
        if let Some(truth) = self.truth.as_mut() {
            truth.push((post_id, kind, label));
        }
        text
    }

    fn make(
        &mut self,
        rng: &mut ChaCha8Rng,
        lang: usize,
        post_id: i64,
    ) -> (String, &'static str, String) {
        let roll = rng.random_range(0..1000u32);
        let copy = |rng: &mut ChaCha8Rng, earlier: &[(String, String)]| {
            (!earlier.is_empty()).then(|| earlier[rng.random_range(0..earlier.len())].clone())
        };
        let planted = match roll {
            0..30 => copy(rng, &self.earlier).map(|(t, l)| (t, "repost", l)),
            30..45 => copy(rng, &self.earlier).map(|(t, l)| match rng.random_range(0..3u32) {
                0 => (t.to_uppercase(), "repost_capitals", l),
                1 => (t.replacen(". ", ".\n", 1), "repost_line_break", l),
                // Two spaces after a full stop.
                _ => (t.replace(". ", ".  "), "repost_spaces", l),
            }),
            45..60 => copy(rng, &self.earlier).map(|(mut t, l)| {
                let kind = match rng.random_range(0..3u32) {
                    0 => {
                        t.push_str(" \u{1F602}");
                        "repost_emoji"
                    }
                    1 => {
                        t.push_str(" #repost");
                        "repost_hashtag"
                    }
                    _ => {
                        // Two letters of the first sentence swapped, a
                        // typo (personal data comes later in a post).
                        let chars: Vec<char> = t.chars().collect();
                        let i = rng.random_range(0..chars.len().saturating_sub(1).clamp(1, 30));
                        if i + 1 < chars.len() {
                            let mut c = chars;
                            c.swap(i, i + 1);
                            t = c.into_iter().collect();
                        }
                        "repost_typo"
                    }
                };
                (t, kind, l)
            }),
            60..80 => {
                let k = rng.random_range(0..TEMPLATED.len());
                let t =
                    TEMPLATED[k].replace("{}", &format!("{:04}", rng.random_range(0..10_000u32)));
                Some((t, "templated", format!("templated-{k}")))
            }
            80..90 => {
                let t = format!(
                    "Selling my {} for {} EUR, pick-up only. #{} #{}",
                    FOR_SALE[rng.random_range(0..FOR_SALE.len())],
                    rng.random_range(20..900u32),
                    TAGS[rng.random_range(0..TAGS.len())],
                    TAGS[rng.random_range(0..TAGS.len())]
                );
                // Only the same item, price and tags are one post.
                let label = format!("for-sale {t}");
                Some((t, "near_miss_for_sale", label))
            }
            90..100 => {
                let k = rng.random_range(0..SHORT.len());
                Some((SHORT[k].to_owned(), "near_miss_short", format!("short-{k}")))
            }
            _ => None,
        };
        if let Some(t) = planted {
            return t;
        }
        let mut t = varied_text(rng, lang);
        for _ in 0..3 {
            t.push_str(" #");
            t.push_str(TAGS[rng.random_range(0..TAGS.len())]);
        }
        let label = post_id.to_string();
        if self.earlier.len() < EARLIER_KEPT {
            self.earlier.push((t.clone(), label.clone()));
        } else if rng.random_range(0..8u32) == 0 {
            let i = rng.random_range(0..EARLIER_KEPT);
            self.earlier[i] = (t.clone(), label.clone());
        }
        (t, "unique", label)
    }
}

/// `n` post texts as `generate` writes them (language by turn, about 200
/// bytes, 8% with personal data), with the author's country: for benchmarks.
pub fn sample_texts(seed: u64, n: usize) -> Vec<(String, &'static str)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| (text(&mut rng, i % LANGS.len()), COUNTRIES[i % LANGS.len()]))
        .collect()
}

fn posts_schema(int_ids: bool) -> SchemaRef {
    Arc::new(Schema::new(vec![
        id_field("post_id", int_ids, false),
        id_field("author_id", int_ids, true),
        Field::new("created_at", ts_type(), true),
        Field::new("platform", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, true),
        Field::new("visibility", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("lang", DataType::Utf8, true),
    ]))
}

fn write_posts(
    dir: &Path,
    roster: &[Author],
    opts: &SampleOptions,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<PathBuf>> {
    let n_files = opts
        .files
        .unwrap_or_else(|| (opts.posts.div_ceil(250_000) as usize).max(4))
        .max(1);
    let per_file = opts.posts.div_ceil(n_files as u64).max(1);
    let rg_rows = opts
        .row_group_rows
        .unwrap_or_else(|| (per_file.div_ceil(4) as usize).clamp(1, 128 * 1024))
        .max(1);
    let coming_of_age: Vec<usize> = roster
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a.kind, AuthorKind::ComingOfAge | AuthorKind::LeapDay))
        .map(|(i, _)| i)
        .collect();
    let schema = posts_schema(opts.int_ids);
    let mut paths = Vec::new();
    let mut next_post = 0u64;
    let mut texts = PostTexts::new(opts.dedup_truth);
    for f in 0..n_files {
        if next_post >= opts.posts {
            break;
        }
        let path = dir.join(format!("part-{f:05}.parquet"));
        let mut w = writer(&path, schema.clone())?;
        let end = (next_post + per_file).min(opts.posts);
        while next_post < end {
            let n = (rg_rows as u64).min(end - next_post) as usize;
            let b = posts_batch(
                &path,
                &schema,
                roster,
                &coming_of_age,
                next_post,
                n,
                opts.int_ids,
                &mut texts,
                rng,
            )?;
            let err = |source| IoError::WriteParquet {
                path: path.clone(),
                source,
            };
            w.write(&b).map_err(err)?;
            // One batch, one row group: several row groups per file.
            w.flush().map_err(err)?;
            next_post += n as u64;
        }
        w.close().map_err(|source| IoError::WriteParquet {
            path: path.clone(),
            source,
        })?;
        paths.push(path);
    }
    if let Some(truth) = &texts.truth {
        write_truth(&dir.join("..").join("dedup-truth.jsonl"), truth)?;
    }
    Ok(paths)
}

/// One JSON line per post: `{"post_id": …, "kind": …, "label": …}`.
fn write_truth(path: &Path, truth: &[(i64, &str, String)]) -> Result<()> {
    use std::io::Write;
    let err = |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut w = std::io::BufWriter::new(File::create(path).map_err(err)?);
    for (id, kind, label) in truth {
        let line = serde_json::json!({"post_id": id.to_string(), "kind": kind, "label": label});
        writeln!(w, "{line}").map_err(err)?;
    }
    w.flush().map_err(err)
}

#[allow(clippy::too_many_arguments)]
fn posts_batch(
    path: &Path,
    schema: &SchemaRef,
    roster: &[Author],
    coming_of_age: &[usize],
    first: u64,
    n: usize,
    int_ids: bool,
    texts: &mut PostTexts,
    rng: &mut ChaCha8Rng,
) -> Result<RecordBatch> {
    let mut post_id = IdBuilder::new(int_ids);
    let mut author_id = IdBuilder::new(int_ids);
    let mut created = TimestampMicrosecondBuilder::with_capacity(n);
    let (mut platform, mut kind, mut visibility) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut text_b, mut lang_b) = (
        StringBuilder::with_capacity(n, n * 220),
        StringBuilder::new(),
    );
    for j in first..first + n as u64 {
        post_id.append(Some(POST_ID_BASE + j as i64));
        // One post in ten sits on a coming-of-age boundary: the second before
        // midnight UTC of the birthday, midnight itself, or a second after.
        let boundary = j % 10 == 0 && !coming_of_age.is_empty();
        let a_idx = if boundary {
            coming_of_age[rng.random_range(0..coming_of_age.len())]
        } else {
            rng.random_range(0..roster.len())
        };
        let a = &roster[a_idx];
        let t = if boundary {
            coming_of_age_secs(a) + [-1, 0, 1][((j / 10) % 3) as usize]
        } else {
            rng.random_range(PERIOD_START..=PERIOD_END)
        };
        let (p, k, v) = if boundary {
            ("facebook", "post", "public")
        } else {
            let k = pick(
                rng,
                &[
                    ("post", 36),
                    ("comment", 26),
                    ("photo_caption", 12),
                    ("private_message", 10),
                    ("business_message", 6),
                    ("ai_interaction", 7),
                    ("story", 3),
                ],
            );
            let p = match k {
                "private_message" | "business_message" => {
                    pick(rng, &[("messenger", 5), ("whatsapp", 4), ("instagram", 3)])
                }
                "ai_interaction" => pick(
                    rng,
                    &[
                        ("whatsapp", 4),
                        ("messenger", 2),
                        ("instagram", 2),
                        ("facebook", 2),
                    ],
                ),
                "photo_caption" | "story" => pick(rng, &[("instagram", 3), ("facebook", 2)]),
                _ => pick(rng, &[("facebook", 5), ("instagram", 3), ("threads", 2)]),
            };
            let v = match k {
                // Private messages mislabelled public must still go.
                "private_message" => pick(rng, &[("private", 7), ("public", 3)]),
                "business_message" => pick(rng, &[("private", 8), ("public", 2)]),
                "ai_interaction" => pick(rng, &[("private", 9), ("public", 1)]),
                _ => pick(
                    rng,
                    &[
                        ("public", 68),
                        ("friends", 20),
                        ("only_me", 5),
                        ("private", 5),
                        ("Public", 2),
                    ],
                ),
            };
            (p, k, v)
        };
        // A few rows with a null required field: dropped as invalid_row.
        let null_field = if rng.random_range(0..1000u32) < 3 {
            rng.random_range(0..5u32)
        } else {
            9
        };
        author_id.append((null_field != 0).then_some(AUTHOR_ID_BASE + a_idx as i64));
        if null_field == 1 {
            created.append_null()
        } else {
            created.append_value(micros(t))
        }
        platform.append_option((null_field != 2).then_some(p));
        kind.append_option((null_field != 3).then_some(k));
        visibility.append_option((null_field != 4).then_some(v));
        // The lang hint is often null or wrong, as in real dumps.
        let lang = match rng.random_range(0..10u32) {
            0..7 => a.lang,
            7..9 => usize::MAX,
            _ => rng.random_range(0..LANGS.len()),
        };
        text_b.append_value(texts.next(rng, a.lang, POST_ID_BASE + j as i64));
        lang_b.append_option(LANGS.get(lang).copied());
    }
    let columns: Vec<ArrayRef> = vec![
        post_id.finish(),
        author_id.finish(),
        Arc::new(created.finish().with_timezone("UTC")),
        Arc::new(platform.finish()),
        Arc::new(kind.finish()),
        Arc::new(visibility.finish()),
        Arc::new(text_b.finish()),
        Arc::new(lang_b.finish()),
    ];
    batch(path, schema.clone(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_other_seed_other_bytes() {
        let dirs: Vec<_> = (0..3)
            .map(|_| tempfile::tempdir().expect("tempdir"))
            .collect();
        let opts = SampleOptions {
            posts: 500,
            ..SampleOptions::default()
        };
        generate(dirs[0].path(), &opts).expect("gen");
        generate(dirs[1].path(), &opts).expect("gen");
        generate(dirs[2].path(), &SampleOptions { seed: 7, ..opts }).expect("gen");
        let read = |d: &tempfile::TempDir, f: &str| fs::read(d.path().join(f)).expect("read");
        for f in [
            "posts/part-00000.parquet",
            "accounts.parquet",
            "optouts.parquet",
            "consents.parquet",
        ] {
            assert_eq!(read(&dirs[0], f), read(&dirs[1], f), "{f}");
        }
        assert_ne!(
            read(&dirs[0], "posts/part-00000.parquet"),
            read(&dirs[2], "posts/part-00000.parquet")
        );
    }

    #[test]
    fn writes_several_files_with_several_row_groups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = generate(
            dir.path(),
            &SampleOptions {
                posts: 1000,
                ..SampleOptions::default()
            },
        )
        .expect("gen");
        assert_eq!(s.post_files, 4);
        let plan = crate::plan_posts(&dir.path().join("posts"), &Default::default()).expect("plan");
        assert_eq!(plan.rows(), 1000);
        assert!(plan.files.iter().all(|f| f.row_groups() == 4));
    }
}
