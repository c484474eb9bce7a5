//! The varied card generator: the same card for the same seed, fields that really sit off the
//! reader's zones (in the design and in the printed pixels), fonts, sizes, arrangements and wear
//! that really vary, and the seed split.

use cardgen::{
    Arrangement, Degradation, Design, DocTally, FontChoice, Line, TEST_SEEDS, TUNING_SEEDS,
    generate_varied, is_test_seed, max_shift_y, render_varied, sample,
};
use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;
use std::collections::HashSet;
use std::path::Path;
use vision::card::layout::{Field, zone_of};
use vision::card::{CARD_HEIGHT, CARD_WIDTH, DocumentType};
use vision::{ImageLimits, decode_image};

const DOCS: [DocumentType; 2] = [
    DocumentType::ResidentRegistrationCard,
    DocumentType::DriverLicence,
];

/// The seeds the tests look at: held-out test seeds, as the measurements use.
fn seeds(n: u64) -> impl Iterator<Item = u64> {
    TEST_SEEDS.start..TEST_SEEDS.start + n
}

/// A real face photo of `../shared/testdata/faces`.
fn face(i: usize) -> Mat {
    let path = test_support::faces_dir().join(format!("img{}.jpg", i % 25 + 1));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode_image(&bytes, ImageLimits::default())
        .expect("a face photo decodes")
        .mat
}

fn bytes(m: &Mat) -> Vec<u8> {
    m.data_bytes().expect("continuous").to_vec()
}

fn save(name: &str, m: &Mat) {
    let dir = Path::new("/tmp/variety");
    if std::fs::create_dir_all(dir).is_ok() {
        let path = dir.join(name);
        let _ = imgcodecs::imwrite(path.to_string_lossy().into_owned(), m, &Vector::new());
    }
}

/// A design without wear, so the printed ink can be found.
fn unworn(mut d: Design) -> Design {
    d.wear.scratches = 0;
    d.wear.fade = 0.0;
    d.wear.fade_patches = 0;
    d.wear.glare = 0.0;
    d.wear.misregistration = [[0, 0], [0, 0]];
    d
}

/// The reader's zone of `field`: (left or centre x, centre y), fractions of the card.
fn zone_anchor(doc: DocumentType, field: Field, centred: bool) -> (f32, f32) {
    let z = zone_of(doc, field).expect("the reader has a zone for it");
    let x = if centred { z.x + z.w / 2.0 } else { z.x };
    (x, z.y + z.h / 2.0)
}

fn line_anchor(l: &Line) -> (f32, f32) {
    let x = if l.centred { l.x + l.w / 2.0 } else { l.x };
    (x, l.centre_y())
}

#[test]
fn same_seed_same_varied_card() {
    let f = face(0);
    for doc in DOCS {
        let s = TEST_SEEDS.start + 3;
        let a = generate_varied(s, doc, Some(&f), Degradation::Glare, false).expect("generate");
        let b = generate_varied(s, doc, Some(&f), Degradation::Glare, false).expect("generate");
        assert_eq!(a.truth, b.truth);
        assert_eq!(a.quad, b.quad);
        assert_eq!(bytes(&a.card), bytes(&b.card));
        assert_eq!(bytes(&a.frame), bytes(&b.frame));
        assert_eq!(Design::for_seed(s, doc), Design::for_seed(s, doc));
        assert_eq!(a.truth, sample(s, doc), "the regular cards' holder");
        assert_eq!((a.card.cols(), a.card.rows()), (CARD_WIDTH, CARD_HEIGHT));
        let c = generate_varied(s + 1, doc, Some(&f), Degradation::Glare, false).expect("gen");
        assert_ne!(bytes(&a.card), bytes(&c.card), "another seed, another card");
        assert_ne!(Design::for_seed(s, doc), Design::for_seed(s + 1, doc));
    }
    assert!(
        generate_varied(
            1,
            DocumentType::PassportTd3,
            None,
            Degradation::Clean,
            false
        )
        .is_err(),
        "no varied design for an MRZ document"
    );
}

#[test]
fn varied_lines_sit_off_the_reader_zones_both_ways() {
    for doc in DOCS {
        let mut fields = vec![Field::Name, Field::Rrn, Field::Address, Field::IssueDate];
        if doc == DocumentType::DriverLicence {
            fields.push(Field::LicenceNumber);
        }
        for field in fields {
            let (mut dx, mut dy) = (Vec::new(), Vec::new());
            for seed in seeds(50) {
                let d = Design::for_seed(seed, doc).expect("a design");
                let l = d.line(field).expect("the design prints it");
                let (zx, zy) = zone_anchor(doc, field, l.centred);
                let (lx, ly) = line_anchor(l);
                dx.push(lx - zx);
                dy.push(ly - zy);
            }
            let span = |v: &[f32]| {
                (
                    v.iter().copied().fold(f32::INFINITY, f32::min),
                    v.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                )
            };
            let ((x0, x1), (y0, y1)) = (span(&dx), span(&dy));
            println!("{doc:?} {field:?}: dx {x0:+.3}..{x1:+.3}, dy {y0:+.3}..{y1:+.3}");
            // Off the zone by at least 1 % in both directions, never more than a few percent.
            assert!(y0 <= -0.01 && y1 >= 0.01, "{doc:?} {field:?} dy {y0}..{y1}");
            assert!(x0 <= -0.01 && x1 >= 0.01, "{doc:?} {field:?} dx {x0}..{x1}");
            let lim_y = max_shift_y(field) + 0.015;
            assert!(
                y0 >= -lim_y && y1 <= lim_y,
                "{doc:?} {field:?} dy {y0}..{y1}"
            );
            assert!(x0 >= -0.04 && x1 <= 0.04, "{doc:?} {field:?} dx {x0}..{x1}");
        }
    }
}

#[test]
fn fields_keep_their_order_without_touching() {
    for doc in DOCS {
        let order: &[Field] = if doc == DocumentType::DriverLicence {
            &[
                Field::Title,
                Field::LicenceType,
                Field::LicenceNumber,
                Field::Name,
                Field::Rrn,
                Field::Address,
                Field::RenewalPeriod,
                Field::IssueDate,
                Field::Issuer,
            ]
        } else {
            &[
                Field::Title,
                Field::Name,
                Field::Rrn,
                Field::Address,
                Field::IssueDate,
                Field::Issuer,
            ]
        };
        for seed in seeds(200) {
            let d = Design::for_seed(seed, doc).expect("a design");
            let ys: Vec<f32> = order
                .iter()
                .map(|f| d.line(*f).expect("printed").centre_y())
                .collect();
            assert!(ys.windows(2).all(|p| p[0] < p[1]), "{doc:?} {seed}: {ys:?}");
            for l in &d.lines {
                assert!(l.y >= 0.0 && l.y + l.h <= 1.0, "{doc:?} {seed}: {l:?}");
                assert!(l.x >= 0.0 && l.x + l.w <= 1.0, "{doc:?} {seed}: {l:?}");
            }
        }
    }
}

/// The ink of a line inside its box: the vertical centre of its main band of inked rows (a
/// neighbour's ink reaching into the box is another band) and its leftmost inked column, in
/// pixels.
fn ink_of(card: &Mat, l: &Line) -> (f32, i32) {
    let (h, w) = (CARD_HEIGHT as f32, CARD_WIDTH as f32);
    let y0 = ((l.y * h) as i32).max(0);
    let y1 = (((l.y + l.h) * h) as i32).min(CARD_HEIGHT);
    let x0 = ((l.x * w) as i32 - 30).max(0);
    let x1 = (((l.x + l.w) * w) as i32).min(CARD_WIDTH);
    let inked = |x: i32, y: i32| {
        let p = card.at_2d::<opencv::core::Vec3b>(y, x).expect("in range");
        u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2]) < 3 * 110
    };
    let rows: Vec<usize> = (y0..y1)
        .map(|y| (x0..x1).filter(|&x| inked(x, y)).count())
        .collect();
    // Bands of rows with ink, bridging gaps of up to 2 rows; the heaviest one is the line's.
    let mut bands: Vec<(usize, usize, usize)> = Vec::new(); // (first, last, ink)
    for (i, &n) in rows.iter().enumerate() {
        if n == 0 {
            continue;
        }
        match bands.last_mut() {
            Some(b) if i <= b.1 + 3 => {
                b.1 = i;
                b.2 += n;
            }
            _ => bands.push((i, i, n)),
        }
    }
    let &(first, last, ink) = bands.iter().max_by_key(|b| b.2).expect("ink in the line");
    assert!(ink > 200, "ink found for {l:?}");
    let (sum, n) = (first..=last).fold((0.0f64, 0.0f64), |(s, n), i| {
        (
            s + (i as f64 + f64::from(y0)) * rows[i] as f64,
            n + rows[i] as f64,
        )
    });
    let (b0, b1) = (y0 + first as i32, y0 + last as i32 + 1);
    let left = (x0..x1)
        .find(|&x| (b0..b1).any(|y| inked(x, y)))
        .expect("an inked column");
    ((sum / n) as f32, left)
}

#[test]
fn printed_number_follows_the_design_not_the_zone() {
    let mut moved = 0;
    for doc in DOCS {
        for seed in seeds(24) {
            let d = unworn(Design::for_seed(seed, doc).expect("a design"));
            let card = render_varied(&sample(seed, doc), None, &d).expect("render");
            let l = d.line(Field::Rrn).expect("printed");
            let (ink_y, ink_left) = ink_of(&card, l);
            let want_y = l.centre_y() * CARD_HEIGHT as f32;
            let zone_y = zone_anchor(doc, Field::Rrn, false).1 * CARD_HEIGHT as f32;
            // Digits sit on the baseline: their centre is a little below the line's centre.
            assert!(
                (ink_y - want_y).abs() < 8.0,
                "{doc:?} {seed}: ink at {ink_y}, line centre {want_y}"
            );
            let want_left = l.x * CARD_WIDTH as f32 + 3.0;
            assert!(
                (ink_left as f32 - want_left).abs() < 6.0,
                "{doc:?} {seed}: ink from {ink_left}, line from {want_left}"
            );
            if (want_y - zone_y).abs() > 8.0 {
                moved += 1;
                assert!((ink_y - zone_y).abs() > 3.0, "{doc:?} {seed}");
            }
        }
    }
    assert!(
        moved >= 8,
        "only {moved} of 48 numbers printed off their zone"
    );
}

#[test]
fn fonts_sizes_arrangements_stock_and_wear_vary() {
    let mut fonts = HashSet::new();
    let mut arrangements = HashSet::new();
    let mut patterns = HashSet::new();
    let (mut smallest, mut largest) = (f32::INFINITY, f32::NEG_INFINITY);
    let (mut glare, mut scratched, mut misregistered, mut faded) = (0, 0, 0, 0);
    let mut tints = HashSet::new();
    for doc in DOCS {
        for seed in seeds(50) {
            let d = Design::for_seed(seed, doc).expect("a design");
            fonts.insert(d.font);
            arrangements.insert((doc, d.arrangement));
            patterns.insert(d.pattern);
            tints.insert(d.tint[0].map(|c| c as u32));
            for l in &d.lines {
                smallest = smallest.min(l.size);
                largest = largest.max(l.size);
            }
            glare += usize::from(d.wear.glare > 0.0);
            scratched += usize::from(d.wear.scratches > 0);
            misregistered += usize::from(d.wear.misregistration != [[0, 0], [0, 0]]);
            faded += usize::from(d.wear.fade > 0.0 || d.wear.fade_patches > 0);
        }
    }
    println!(
        "fonts {fonts:?}, sizes {smallest:.2}..{largest:.2}, glare {glare}, scratched \
         {scratched}, misregistered {misregistered}, faded {faded} of 100"
    );
    assert!(fonts.len() >= 4, "{fonts:?}");
    assert!(fonts.contains(&FontChoice::NanumSquareRound) || fonts.len() == 5);
    assert_eq!(arrangements.len(), 4, "{arrangements:?}");
    assert_eq!(patterns.len(), 4, "{patterns:?}");
    assert!(tints.len() >= 20, "{} tints", tints.len());
    assert!(smallest < 0.9 && largest > 1.1, "{smallest}..{largest}");
    for (what, n) in [
        ("glare", glare),
        ("scratches", scratched),
        ("misregistration", misregistered),
        ("fading", faded),
    ] {
        assert!((15..=85).contains(&n), "{what} on {n} of 100 cards");
    }
    // The older arrangements really move the photo.
    let photos: HashSet<(Arrangement, u32)> = seeds(50)
        .filter_map(|s| Design::for_seed(s, DocumentType::ResidentRegistrationCard))
        .map(|d| (d.arrangement, (d.photo[3] * 100.0).round() as u32))
        .collect();
    assert!(photos.len() >= 6, "{photos:?}");
}

/// Share of pixels that differ by more than `by` on any channel.
fn changed(a: &Mat, b: &Mat, by: u8) -> f64 {
    let (a, b) = (bytes(a), bytes(b));
    let n = a
        .chunks(3)
        .zip(b.chunks(3))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > by))
        .count();
    n as f64 / (a.len() / 3) as f64
}

#[test]
fn wear_is_where_it_should_be() {
    let doc = DocumentType::DriverLicence;
    let seed = TEST_SEEDS.start + 11;
    let truth = sample(seed, doc);
    let clean = unworn(Design::for_seed(seed, doc).expect("a design"));
    let base = render_varied(&truth, None, &clean).expect("render");

    // Glare: a streak over part of the card, lighter, never darker.
    let mut d = clean.clone();
    d.wear.glare = 0.5;
    let glared = render_varied(&truth, None, &d).expect("render");
    let part = changed(&base, &glared, 1);
    assert!(
        (0.03..0.6).contains(&part),
        "glare over {part:.3} of the card"
    );
    let (b, g) = (bytes(&base), bytes(&glared));
    assert!(b.iter().zip(&g).all(|(x, y)| y >= x), "glare only lightens");

    // Misregistration: the blue plate two pixels right (the photo shows it), the green one
    // where it was, the black text plate too.
    let mut d = clean.clone();
    d.wear.misregistration = [[2, 0], [0, 0]];
    let off = bytes(&render_varied(&truth, None, &d).expect("render"));
    assert!(
        off.iter().zip(&b).skip(1).step_by(3).all(|(x, y)| x == y),
        "green moved"
    );
    assert_ne!(off, b, "blue did not move");
    let w = CARD_WIDTH as usize;
    let [px, py, pw, ph] = d.photo.map(|v| v as f64);
    let (x0, y0) = ((px * w as f64) as usize + 4, (py * 540.0) as usize + 4);
    let (x1, y1) = (
        ((px + pw) * w as f64) as usize - 4,
        ((py + ph) * 540.0) as usize - 4,
    );
    for y in (y0..y1).step_by(7) {
        for x in x0..x1 {
            let (i, j) = ((y * w + x) * 3, (y * w + x - 2) * 3);
            assert_eq!(off[i], b[j], "blue at ({x}, {y}) in the photo");
        }
    }
    let l = d.line(Field::Rrn).expect("printed");
    let (ink_y, _) = ink_of(&render_varied(&truth, None, &d).expect("render"), l);
    let (base_y, _) = ink_of(&base, l);
    assert!(
        (ink_y - base_y).abs() < 0.5,
        "the text moved: {base_y} -> {ink_y}"
    );

    // Fading brings the text towards the stock: fewer dark pixels.
    let dark = |m: &[u8]| m.chunks(3).filter(|p| p.iter().all(|v| *v < 90)).count();
    let mut d = clean.clone();
    d.wear.fade = 0.3;
    let faded = bytes(&render_varied(&truth, None, &d).expect("render"));
    assert!(
        dark(&faded) * 2 < dark(&b),
        "{} vs {}",
        dark(&faded),
        dark(&b)
    );

    // Scratches: thin, a small part of the card.
    let mut d = clean;
    d.wear.scratches = 5;
    let part = changed(&base, &render_varied(&truth, None, &d).expect("render"), 10);
    assert!((0.0005..0.05).contains(&part), "scratches over {part:.4}");
}

#[test]
fn the_seed_split_is_disjoint() {
    assert!(!is_test_seed(0) && !is_test_seed(TUNING_SEEDS.end - 1));
    assert!(is_test_seed(TEST_SEEDS.start) && is_test_seed(u64::MAX));
    assert!(!TUNING_SEEDS.contains(&TEST_SEEDS.start));
}

#[test]
fn a_card_not_found_misses_every_field() {
    let f = face(4);
    let mut t = DocTally::default();
    for doc in DOCS {
        let s = generate_varied(TEST_SEEDS.start, doc, Some(&f), Degradation::Clean, false)
            .expect("generate");
        t.add(&s, TEST_SEEDS.start, None);
    }
    assert_eq!((t.cards, t.not_found), (2, 2));
    let shares = t.shares();
    assert!(shares[..5].iter().all(|s| *s == Some(0.0)), "{shares:?}");
    assert_eq!(shares[5], Some(0.0), "one licence counted");
    let mut rrc = DocTally::default();
    let s = generate_varied(
        TEST_SEEDS.start,
        DocumentType::ResidentRegistrationCard,
        None,
        Degradation::Clean,
        false,
    )
    .expect("generate");
    rrc.add(&s, TEST_SEEDS.start, None);
    assert_eq!(rrc.shares()[5], None, "no licence number on a 주민등록증");
}

#[test]
fn example_cards_are_written_for_a_look() {
    // The first held-out card of each document and arrangement, in /tmp/variety.
    let captures = [
        Degradation::Clean,
        Degradation::Glare,
        Degradation::MotionBlur,
    ];
    let mut i = 0;
    for doc in DOCS {
        for arrangement in [Arrangement::Current, Arrangement::Older] {
            let seed = seeds(100)
                .find(|&s| Design::for_seed(s, doc).is_some_and(|d| d.arrangement == arrangement))
                .expect("both arrangements among 100 seeds");
            let d = captures[i % captures.len()];
            let s = generate_varied(seed, doc, Some(&face(i)), d, true).expect("generate");
            let name = format!("{seed}_{doc:?}_{arrangement:?}");
            save(&format!("{name}_card.png"), &s.card);
            save(&format!("{name}_frame_{d:?}.png"), &s.frame);
            i += 1;
        }
    }
}
