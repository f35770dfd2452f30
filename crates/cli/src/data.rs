//! Reading data sets: CSV files (a header row; the label column by name or
//! index, default the last; integer or string labels) and MNIST IDX files
//! (raw or gzip). CSV goes through the `csv` crate. Every problem is reported with the file, and where it
//! applies the row and column (1-based, rows counting the header).

use std::io::Read;
use std::path::Path;

use silc_sim::data::Dataset;

/// Which column holds the label.
#[derive(Clone, Debug, Default)]
pub enum LabelColumn {
    #[default]
    Last,
    Index(usize),
    Name(String),
}

impl std::str::FromStr for LabelColumn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.parse::<usize>() {
            Ok(i) => LabelColumn::Index(i),
            Err(_) => LabelColumn::Name(s.to_string()),
        })
    }
}

/// Loads a data set, choosing the reader from the file name.
pub fn load(path: &Path, label: &LabelColumn) -> Result<Dataset, String> {
    let name = path.to_string_lossy();
    if name.contains("images-idx3") || name.contains("images.idx3") {
        return load_idx(path);
    }
    if name.ends_with(".csv") || name.ends_with(".csv.gz") {
        let bytes = read_maybe_gzip(path)?;
        return parse_csv(&name, &bytes, label);
    }
    Err(format!(
        "error: {name}: unknown data format\n  = help: give a `.csv` file (header row, label column) or an MNIST `*-images-idx3-ubyte[.gz]` file (its labels file is found beside it)"
    ))
}

fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, String> {
    let raw = crate::io::read(path)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("error: {}: not a valid gzip file: {e}", path.display()))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Class indices above this are refused (an integer label is a class index,
/// and the classes `0..=max` are listed).
const MAX_CLASSES: usize = 1 << 16;

/// Parses CSV text with the `csv` crate (RFC 4180 quoting, blank lines
/// skipped, cells trimmed); every error names the file, the line and, for a
/// cell, its 1-based column.
pub fn parse_csv(name: &str, bytes: &[u8], label: &LabelColumn) -> Result<Dataset, String> {
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(format!("error: {name}:{line}: not UTF-8 text (byte {})", e.valid_up_to()));
    }
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes);
    let mut records = reader.records();
    let record_err = |e: csv::Error| match e.position() {
        Some(pos) => format!("error: {name}:{}: not valid CSV: {e}", pos.line()),
        None => format!("error: {name}: not valid CSV: {e}"),
    };
    const EMPTY_HELP: &str = "a CSV data set starts with a header row, e.g. `f0,f1,label`";
    let Some(header) = records.next() else {
        return Err(format!("error: {name}: the file is empty\n  = help: {EMPTY_HELP}"));
    };
    let header = header.map_err(record_err)?;
    let cols: Vec<String> = header.iter().map(str::to_string).collect();
    let header_line = header.position().map_or(1, |p| p.line());
    if cols.len() < 2 {
        return Err(format!(
            "error: {name}:{header_line}: the header has {} column; a data set needs features and a label",
            cols.len()
        ));
    }
    let label_col = match label {
        LabelColumn::Last => cols.len() - 1,
        LabelColumn::Index(i) if *i < cols.len() => *i,
        LabelColumn::Index(i) => {
            return Err(format!(
                "error: {name}:{header_line}: label column {i} does not exist (the header has {} columns, 0..{})",
                cols.len(),
                cols.len() - 1
            ))
        }
        LabelColumn::Name(n) => cols.iter().position(|c| c == n).ok_or_else(|| {
            format!("error: {name}:{header_line}: no column named `{n}`\n  = help: the columns are {}", cols.join(", "))
        })?,
    };
    let n_features = cols.len() - 1;
    let mut features = Vec::new();
    let mut raw_labels: Vec<String> = Vec::new();
    for record in records {
        let record = record.map_err(record_err)?;
        let row = record.position().map_or(0, |p| p.line());
        if record.len() != cols.len() {
            return Err(format!(
                "error: {name}:{row}: this row has {} cells, the header has {}",
                record.len(),
                cols.len()
            ));
        }
        for (c, cell) in record.iter().enumerate() {
            if c == label_col {
                if cell.is_empty() {
                    return Err(format!("error: {name}:{row}:{}: the label is empty", c + 1));
                }
                raw_labels.push(cell.to_string());
                continue;
            }
            let v: f64 = cell.parse().map_err(|_| {
                format!("error: {name}:{row}:{}: `{cell}` is not a number (column `{}`)", c + 1, cols[c])
            })?;
            if !v.is_finite() {
                return Err(format!(
                    "error: {name}:{row}:{}: `{cell}` is not a finite number (column `{}`)",
                    c + 1,
                    cols[c]
                ));
            }
            features.push(v);
        }
    }
    if raw_labels.is_empty() {
        return Err(format!("error: {name}: the file has a header but no rows"));
    }
    // Integer labels are class indices; anything else names classes in sorted order.
    let ints: Option<Vec<usize>> = raw_labels.iter().map(|l| l.parse::<usize>().ok()).collect();
    let (labels, classes) = match ints {
        Some(ints) => {
            let max = *ints.iter().max().expect("non-empty");
            if max >= MAX_CLASSES {
                let row = ints.iter().position(|&l| l == max).expect("present");
                return Err(format!(
                    "error: {name}: label {max} (data row {}) is not a class index below {MAX_CLASSES}\n  = help: integer labels number the classes 0, 1, 2, ...",
                    row + 1
                ));
            }
            (ints, (0..=max).map(|i| i.to_string()).collect())
        }
        None => {
            let mut names: Vec<String> = raw_labels.clone();
            names.sort();
            names.dedup();
            let labels = raw_labels.iter().map(|l| names.binary_search(l).expect("present")).collect();
            (labels, names)
        }
    };
    Ok(Dataset { features, labels, n_features, classes })
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// MNIST: the images file, and the labels file found by name beside it.
pub fn load_idx(images: &Path) -> Result<Dataset, String> {
    let iname = images.display().to_string();
    let lname = iname.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1");
    let img = read_maybe_gzip(images)?;
    let lab = read_maybe_gzip(Path::new(&lname))?;
    parse_idx(&iname, &img, &lname, &lab)
}

/// MNIST from the bytes of its images and labels files.
pub fn parse_idx(iname: &str, img: &[u8], lname: &str, lab: &[u8]) -> Result<Dataset, String> {
    if img.len() < 16 || be_u32(img, 0) != 2051 {
        return Err(format!("error: {iname}: not an IDX image file (magic 2051 expected)"));
    }
    if lab.len() < 8 || be_u32(lab, 0) != 2049 {
        return Err(format!("error: {lname}: not an IDX label file (magic 2049 expected)"));
    }
    let (n, rows, cols) = (be_u32(img, 4) as usize, be_u32(img, 8) as usize, be_u32(img, 12) as usize);
    let pixels = rows * cols;
    let need = n.checked_mul(pixels).and_then(|b| b.checked_add(16));
    if need != Some(img.len()) {
        let need = need.map_or("more than 2^64".to_string(), |b| b.to_string());
        return Err(format!(
            "error: {iname}: the header announces {n} images of {rows}x{cols}, which need {need} bytes; the file has {}",
            img.len()
        ));
    }
    let nl = be_u32(lab, 4) as usize;
    if nl != n || lab.len() != 8 + nl {
        return Err(format!("error: {lname}: {nl} labels ({} bytes) for {n} images", lab.len()));
    }
    let labels: Vec<usize> = lab[8..].iter().map(|&l| l as usize).collect();
    if let Some(i) = labels.iter().position(|&l| l > 9) {
        return Err(format!("error: {lname}: label {} of item {i} is not a digit", labels[i]));
    }
    Ok(Dataset {
        features: img[16..].iter().map(|&p| p as f64).collect(),
        labels,
        n_features: pixels,
        classes: (0..10).map(|i| i.to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_errors_name_row_and_column() {
        let e = parse_csv("d.csv", b"a,b,label\n1,2,0\n1,x,1\n", &LabelColumn::Last).unwrap_err();
        assert!(e.contains("d.csv:3:2: `x` is not a number (column `b`)"), "{e}");
        let e = parse_csv("d.csv", b"a,b,label\n1,2\n", &LabelColumn::Last).unwrap_err();
        assert!(e.contains("d.csv:2: this row has 2 cells, the header has 3"), "{e}");
        let e = parse_csv("d.csv", b"a,b,label\n1,NaN,0\n", &LabelColumn::Last).unwrap_err();
        assert!(e.contains("d.csv:2:2"), "{e}");
        let e = parse_csv("d.csv", b"", &LabelColumn::Last).unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn string_labels_and_named_columns() {
        let d = parse_csv("d.csv", b"kind,x\ncat,1\ndog,2\ncat,3\n", &LabelColumn::Name("kind".into())).unwrap();
        assert_eq!(d.labels, vec![0, 1, 0]);
        assert_eq!(d.classes, vec!["cat", "dog"]);
        assert_eq!(d.features, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn quoted_cells_and_huge_labels() {
        let d = parse_csv("d.csv", b"\"a\",label\n\"1.5\",0\n2,1\n", &LabelColumn::Last).unwrap();
        assert_eq!(d.features, vec![1.5, 2.0]);
        let e = parse_csv("d.csv", b"a,label\n1,18446744073709551615\n", &LabelColumn::Last).unwrap_err();
        assert!(e.contains("label 18446744073709551615 (data row 1) is not a class index"), "{e}");
    }

    fn idx(n: u32, labels: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut img = [2051u32, n, 2, 2].iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
        img.extend((0..4 * n).map(|i| i as u8));
        let mut lab = [2049u32, n].iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
        lab.extend_from_slice(labels);
        (img, lab)
    }

    #[test]
    fn idx_headers_announcing_absurd_sizes_are_refused() {
        let (img, lab) = idx(3, &[1, 2, 3]);
        assert_eq!(parse_idx("i", &img, "l", &lab).unwrap().labels, vec![1, 2, 3]);
        let mut huge = img.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        let e = parse_idx("i", &huge, "l", &lab).unwrap_err();
        assert!(e.contains("the header announces 4294967295 images"), "{e}");
    }

    #[test]
    fn mutated_csv_never_panics() {
        let base = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/iris_test.csv")).unwrap();
        let base = &base[..base.len().min(600)];
        let tokens: Vec<&[u8]> =
            vec![b",", b"\n", b"\r", b"\"", b"-", b".", b"e", b"1e999", b"NaN", b"x", b"\xff", b" "];
        let mut g = silc_testkit::Mutator::new(0x5eed_0005, &tokens);
        for case in 0..4000 {
            let v = g.mutate(base, case);
            for label in [LabelColumn::Last, LabelColumn::Index(1), LabelColumn::Name("label".into())] {
                if let Err(e) = parse_csv("m.csv", &v, &label) {
                    assert!(e.starts_with("error: m.csv"), "case {case}: {e}");
                }
            }
        }
    }

    #[test]
    fn mutated_idx_never_panics() {
        let (img, lab) = idx(5, &[0, 1, 2, 3, 9]);
        let words: Vec<[u8; 4]> = [u32::MAX, 2051, 2049, 0].map(u32::to_be_bytes).to_vec();
        let tokens: Vec<&[u8]> = words.iter().map(|w| &w[..]).collect();
        let mut g = silc_testkit::Mutator::new(0x5eed_0006, &tokens);
        for case in 0..4000 {
            let (i, l) = if case % 2 == 0 {
                (g.mutate(&img, case / 2), lab.clone())
            } else {
                (img.clone(), g.mutate(&lab, case / 2))
            };
            if let Ok(d) = parse_idx("i", &i, "l", &l) {
                assert_eq!(d.features.len(), d.labels.len() * d.n_features, "case {case}");
            }
        }
    }
}
