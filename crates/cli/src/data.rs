//! Reading data sets: CSV files (a header row; the label column by name or
//! index, default the last; integer or string labels) and MNIST IDX files
//! (raw or gzip). Every problem is reported with the file, and where it
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

/// Parses CSV text (no quoting: numeric data sets do not need it).
pub fn parse_csv(name: &str, bytes: &[u8], label: &LabelColumn) -> Result<Dataset, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| format!("error: {name}: not UTF-8 text (byte {})", e.valid_up_to()))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(format!(
            "error: {name}: the file is empty\n  = help: a CSV data set starts with a header row, e.g. `f0,f1,label`"
        ));
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    if cols.len() < 2 {
        return Err(format!(
            "error: {name}:1: the header has {} column; a data set needs features and a label",
            cols.len()
        ));
    }
    let label_col = match label {
        LabelColumn::Last => cols.len() - 1,
        LabelColumn::Index(i) if *i < cols.len() => *i,
        LabelColumn::Index(i) => {
            return Err(format!(
                "error: {name}:1: label column {i} does not exist (the header has {} columns, 0..{})",
                cols.len(),
                cols.len() - 1
            ))
        }
        LabelColumn::Name(n) => cols.iter().position(|c| c == n).ok_or_else(|| {
            format!("error: {name}:1: no column named `{n}`\n  = help: the columns are {}", cols.join(", "))
        })?,
    };
    let n_features = cols.len() - 1;
    let mut features = Vec::new();
    let mut raw_labels: Vec<String> = Vec::new();
    for (i, line) in lines {
        let row = i + 1;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != cols.len() {
            return Err(format!(
                "error: {name}:{row}: this row has {} cells, the header has {}",
                cells.len(),
                cols.len()
            ));
        }
        for (c, cell) in cells.iter().enumerate() {
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
    if img.len() < 16 || be_u32(&img, 0) != 2051 {
        return Err(format!("error: {iname}: not an IDX image file (magic 2051 expected)"));
    }
    if lab.len() < 8 || be_u32(&lab, 0) != 2049 {
        return Err(format!("error: {lname}: not an IDX label file (magic 2049 expected)"));
    }
    let (n, rows, cols) = (be_u32(&img, 4) as usize, be_u32(&img, 8) as usize, be_u32(&img, 12) as usize);
    let pixels = rows * cols;
    if img.len() != 16 + n * pixels {
        return Err(format!(
            "error: {iname}: {n} images of {rows}x{cols} need {} bytes, the file has {}",
            16 + n * pixels,
            img.len()
        ));
    }
    let nl = be_u32(&lab, 4) as usize;
    if nl != n || lab.len() != 8 + n {
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
}
