//! The CPEs of one package in two allocations: the CPE strings back to back in one string,
//! and a 5-byte entry per CPE with the offset where its text ends and its source.
//!
//! The 480 Python packages of the 2.3 GB benchmark image get 70 CPEs each, and a CPE string
//! is 68 bytes long on average. Kept as a `Vec` of owned strings, a CPE took 154 bytes of
//! memory with malloc's headers, because each string had a 24-byte header and an allocation
//! of its own. Kept here, it takes 75 (glibc's `mallinfo2` around `cpe::generate`, with both
//! layouts).

use std::fmt;

use serde::Serialize;

/// The origin of a CPE guess, spelled as syft's `source` field spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[repr(u8)]
pub enum CpeSource {
    /// Derived from the package's attributes.
    #[serde(rename = "syft-generated")]
    SyftGenerated,
    /// Taken from syft's index of the NVD CPE dictionary.
    #[serde(rename = "nvd-cpe-dictionary")]
    NvdCpeDictionary,
}

impl CpeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SyftGenerated => "syft-generated",
            Self::NvdCpeDictionary => "nvd-cpe-dictionary",
        }
    }
}

/// One CPE of a package, borrowed from its [`Cpes`]. It serializes as syft's entries of
/// `cpes` do: `{"cpe": ..., "source": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Cpe<'a> {
    /// The CPE 2.3 formatted string.
    pub cpe: &'a str,
    pub source: CpeSource,
}

/// The end offset of one CPE's text in [`Cpes::text`] and its source, without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, packed)]
struct Entry {
    end: u32,
    source: CpeSource,
}

/// A package's CPEs, most specific first. Build one with [`CpesBuilder`] or by collecting
/// [`Cpe`] values. It keeps no spare capacity, because both buffers are boxed slices.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Cpes {
    /// The CPE strings back to back, with no separator.
    text: Box<str>,
    entries: Box<[Entry]>,
}

impl Cpes {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<Cpe<'_>> {
        let entry = *self.entries.get(index)?;
        let start = match index {
            0 => 0,
            _ => self.entries[index - 1].end as usize,
        };
        Some(Cpe {
            cpe: &self.text[start..entry.end as usize],
            source: entry.source,
        })
    }

    pub fn first(&self) -> Option<Cpe<'_>> {
        self.get(0)
    }

    /// Returns the CPEs in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Cpe<'_>> + ExactSizeIterator + '_ {
        (0..self.len()).map(|index| self.get(index).expect("index below len"))
    }
}

impl fmt::Debug for Cpes {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Cpes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'a> FromIterator<Cpe<'a>> for Cpes {
    fn from_iter<I: IntoIterator<Item = Cpe<'a>>>(iter: I) -> Self {
        let mut builder = CpesBuilder::default();
        for cpe in iter {
            builder.push(cpe.cpe, cpe.source);
        }
        builder.build()
    }
}

/// Collects CPEs in order, growing its buffers as needed, and hands them over as a [`Cpes`]
/// with the spare capacity given back.
#[derive(Debug, Default)]
pub struct CpesBuilder {
    text: String,
    entries: Vec<Entry>,
}

impl CpesBuilder {
    /// Appends one CPE.
    ///
    /// # Panics
    ///
    /// Panics when the package's CPE text would pass 4 GiB, because the end offsets are
    /// 32-bit. NOTE: nothing caps the text before this point. The generators pair every vendor
    /// candidate with every product candidate, and a name gives a vendor candidate for each
    /// `-` or `_` in it, so the text grows with the square of a long name's length.
    pub fn push(&mut self, cpe: &str, source: CpeSource) {
        self.text.push_str(cpe);
        let end = u32::try_from(self.text.len()).expect("a package's CPE text under 4 GiB");
        self.entries.push(Entry { end, source });
    }

    pub fn build(self) -> Cpes {
        Cpes {
            text: self.text.into_boxed_str(),
            entries: self.entries.into_boxed_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{size_of, size_of_val};

    use super::*;

    /// Builds `count` CPEs of varied lengths, every third from the dictionary.
    fn sample(count: usize) -> Vec<(String, CpeSource)> {
        (0..count)
            .map(|index| {
                let source = if index % 3 == 0 {
                    CpeSource::NvdCpeDictionary
                } else {
                    CpeSource::SyftGenerated
                };
                let vendor = "v".repeat(index % 17);
                let cpe = format!("cpe:2.3:a:{vendor}:product{index}:1.{index}:*:*:*:*:*:*:*");
                (cpe, source)
            })
            .collect()
    }

    #[test]
    fn cpes_round_trip_in_order() {
        let input = sample(300);
        let cpes: Cpes = input
            .iter()
            .map(|(cpe, source)| Cpe {
                cpe,
                source: *source,
            })
            .collect();
        assert_eq!(cpes.len(), input.len());
        assert!(!cpes.is_empty());
        let output: Vec<(String, CpeSource)> = cpes
            .iter()
            .map(|cpe| (cpe.cpe.to_owned(), cpe.source))
            .collect();
        assert_eq!(output, input);
        for (index, (cpe, source)) in input.iter().enumerate() {
            let got = cpes.get(index).unwrap();
            assert_eq!(got.cpe, cpe, "text of CPE {index}");
            assert_eq!(got.source, *source, "source of CPE {index}");
        }
        assert_eq!(cpes.get(input.len()), None);
        assert_eq!(cpes.first().unwrap().cpe, input[0].0);
        let reversed: Vec<&str> = cpes.iter().rev().map(|cpe| cpe.cpe).collect();
        assert_eq!(reversed.first(), Some(&input[299].0.as_str()));
    }

    #[test]
    fn cpes_keep_empty_strings_apart() {
        let mut builder = CpesBuilder::default();
        builder.push("", CpeSource::SyftGenerated);
        builder.push("cpe:2.3:a:x:y:1:*:*:*:*:*:*:*", CpeSource::NvdCpeDictionary);
        builder.push("", CpeSource::NvdCpeDictionary);
        let cpes = builder.build();
        let items: Vec<Cpe<'_>> = cpes.iter().collect();
        assert_eq!(
            items,
            [
                Cpe {
                    cpe: "",
                    source: CpeSource::SyftGenerated
                },
                Cpe {
                    cpe: "cpe:2.3:a:x:y:1:*:*:*:*:*:*:*",
                    source: CpeSource::NvdCpeDictionary
                },
                Cpe {
                    cpe: "",
                    source: CpeSource::NvdCpeDictionary
                },
            ]
        );
    }

    #[test]
    fn empty_cpes_have_no_items() {
        let built = CpesBuilder::default().build();
        let collected: Cpes = std::iter::empty().collect();
        for cpes in [built, collected, Cpes::default()] {
            assert!(cpes.is_empty());
            assert_eq!(cpes.len(), 0);
            assert_eq!(cpes.first(), None);
            assert_eq!(cpes.iter().count(), 0);
            assert_eq!(serde_json::to_string(&cpes).unwrap(), "[]");
            assert_eq!(format!("{cpes:?}"), "[]");
        }
    }

    #[test]
    fn cpes_cost_text_plus_five_bytes() {
        assert_eq!(size_of::<Entry>(), 5);
        assert_eq!(size_of::<Cpes>(), 32);
        let input = sample(70);
        let mut builder = CpesBuilder::default();
        for (cpe, source) in &input {
            builder.push(cpe, *source);
        }
        let cpes = builder.build();
        let text_bytes: usize = input.iter().map(|(cpe, _)| cpe.len()).sum();
        assert_eq!(size_of_val(&*cpes.text), text_bytes);
        assert_eq!(size_of_val(&*cpes.entries), 5 * input.len());
    }

    #[test]
    fn cpes_serialize_as_syft_entries() {
        let cpes: Cpes = [
            Cpe {
                cpe: "cpe:2.3:a:vercel:ms:2.1.3:*:*:*:*:node.js:*:*",
                source: CpeSource::NvdCpeDictionary,
            },
            Cpe {
                cpe: "cpe:2.3:a:ms:ms:2.1.3:*:*:*:*:*:*:*",
                source: CpeSource::SyftGenerated,
            },
        ]
        .into_iter()
        .collect();
        assert_eq!(
            serde_json::to_string(&cpes).unwrap(),
            r#"[{"cpe":"cpe:2.3:a:vercel:ms:2.1.3:*:*:*:*:node.js:*:*","source":"nvd-cpe-dictionary"},{"cpe":"cpe:2.3:a:ms:ms:2.1.3:*:*:*:*:*:*:*","source":"syft-generated"}]"#
        );
    }
}
