//! Go build information: the `.go.buildinfo` blob the Go linker writes into every binary, and
//! the module list ("modinfo") it points to.
//!
//! The blob starts with a 32-byte header: the magic `\xff Go buildinf:`, the pointer size, and
//! a flags byte. Since Go 1.18 (flag bit 2) the version and modinfo strings follow the header
//! inline, each prefixed with its length as an unsigned varint. Older binaries store two
//! pointers after the header instead, each to a Go string header (data pointer, length) that
//! has to be resolved through the binary's virtual addresses.

use object::{Object, ObjectSection, ObjectSegment, SegmentFlags};

/// The magic that opens the build info blob.
pub const MAGIC: &[u8] = b"\xff Go buildinf:";
/// The header size: magic, pointer size, flags, then padding or the two pointers.
const HEADER_LEN: usize = 32;
/// Flag bit: pointers are big-endian (old format only).
const FLAG_BIG_ENDIAN: u8 = 0x1;
/// Flag bit: the strings follow the header inline (Go 1.18 and later).
const FLAG_INLINE: u8 = 0x2;
/// How far into a writable segment the blob is searched for when there is no
/// `.go.buildinfo` section, as the Go toolchain's own reader does.
const SEARCH_LEN: u64 = 64 * 1024;
/// The largest version or modinfo string read, in bytes.
const MAX_STRING: u64 = 16 * 1024 * 1024;

/// The raw strings of one binary's build info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBuildInfo {
    /// The toolchain version, such as `go1.19.8`.
    pub go_version: String,
    /// The module list, without the 16-byte sentinels around it.
    pub modinfo: String,
    /// The GOARCH name of the ELF machine, used when the build settings lack `GOARCH`.
    pub machine_arch: &'static str,
}

/// Reads the build info of an ELF binary. Returns `Ok(None)` when the file has no Go build
/// info (any non-Go ELF file), and an error when the blob is there but cannot be read.
pub fn read_elf<'data, R: object::ReadRef<'data>>(data: R) -> Result<Option<RawBuildInfo>, String> {
    let Ok(file) = object::File::parse(data) else {
        return Ok(None);
    };
    let machine_arch = goarch(file.architecture());
    let blob = match file.section_by_name(".go.buildinfo") {
        Some(section) => {
            let bytes = section
                .data()
                .map_err(|error| format!("failed to read the .go.buildinfo section: {error}"))?;
            match bytes
                .windows(MAGIC.len())
                .position(|window| window == MAGIC)
            {
                Some(start) => bytes[start..].to_vec(),
                None => return Ok(None),
            }
        }
        None => match search_writable_segment(&file)? {
            Some(blob) => blob,
            None => return Ok(None),
        },
    };
    if blob.len() < HEADER_LEN {
        return Err("the Go build info header is truncated".to_owned());
    }
    let pointer_size = blob[14] as usize;
    let flags = blob[15];
    let (go_version, modinfo) = if flags & FLAG_INLINE != 0 {
        let (version, rest) = read_varint_string(&blob[HEADER_LEN..])?;
        let (modinfo, _) = read_varint_string(rest)?;
        (version, modinfo)
    } else {
        if pointer_size != 4 && pointer_size != 8 {
            return Err(format!(
                "the Go build info has an invalid pointer size of {pointer_size}"
            ));
        }
        let big_endian = flags & FLAG_BIG_ENDIAN != 0;
        let pointers = Pointers {
            file: &file,
            size: pointer_size,
            big_endian,
        };
        let version_header = pointers.read_pointer(&blob[16..])?;
        let modinfo_header = pointers.read_pointer(&blob[16 + pointer_size..])?;
        (
            pointers.read_go_string(version_header)?,
            pointers.read_go_string(modinfo_header)?,
        )
    };
    if go_version.is_empty() {
        return Ok(None);
    }
    Ok(Some(RawBuildInfo {
        go_version,
        modinfo: strip_sentinels(&modinfo).to_owned(),
        machine_arch,
    }))
}

/// Finds the blob at the start of the first writable, non-executable load segment, where the
/// linker places it when a stripped binary has no section headers.
fn search_writable_segment<'data, R: object::ReadRef<'data>>(
    file: &object::File<'data, R>,
) -> Result<Option<Vec<u8>>, String> {
    use object::elf::{PF_W, PF_X, PT_LOAD};
    for segment in file.segments() {
        let SegmentFlags::Elf { p_flags, p_type } = segment.flags() else {
            continue;
        };
        if p_type != PT_LOAD || p_flags.0 & (PF_X.0 | PF_W.0) != PF_W.0 {
            continue;
        }
        let length = segment.size().min(SEARCH_LEN);
        let Ok(Some(bytes)) = segment.data_range(segment.address(), length) else {
            continue;
        };
        // The blob is 16-byte aligned.
        let mut offset = 0;
        while offset + MAGIC.len() <= bytes.len() {
            if &bytes[offset..offset + MAGIC.len()] == MAGIC {
                return Ok(Some(bytes[offset..].to_vec()));
            }
            offset += 16;
        }
        return Ok(None);
    }
    Ok(None)
}

/// Pointer reads in the old build info format.
struct Pointers<'a, 'data, R: object::ReadRef<'data>> {
    file: &'a object::File<'data, R>,
    size: usize,
    big_endian: bool,
}

impl<'data, R: object::ReadRef<'data>> Pointers<'_, 'data, R> {
    fn read_pointer(&self, bytes: &[u8]) -> Result<u64, String> {
        let bytes = bytes
            .get(..self.size)
            .ok_or("the Go build info pointers are truncated")?;
        let mut value = 0u64;
        if self.big_endian {
            for byte in bytes {
                value = (value << 8) | u64::from(*byte);
            }
        } else {
            for byte in bytes.iter().rev() {
                value = (value << 8) | u64::from(*byte);
            }
        }
        Ok(value)
    }

    /// Returns `size` bytes at the virtual `address`, from the section that contains it.
    fn read_at(&self, address: u64, size: u64) -> Result<&'data [u8], String> {
        for section in self.file.sections() {
            if let Ok(Some(bytes)) = section.data_range(address, size) {
                return Ok(bytes);
            }
        }
        Err(format!(
            "the Go build info points to address {address:#x}, which no section contains"
        ))
    }

    /// Reads the Go string whose header (data pointer, then length) is at `address`.
    fn read_go_string(&self, address: u64) -> Result<String, String> {
        let header = self.read_at(address, 2 * self.size as u64)?;
        let data = self.read_pointer(header)?;
        let length = self.read_pointer(&header[self.size..])?;
        if length == 0 {
            return Ok(String::new());
        }
        if length > MAX_STRING {
            return Err(format!(
                "the Go build info string at {address:#x} claims {length} bytes"
            ));
        }
        let bytes = self.read_at(data, length)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Reads one string prefixed with its length as an unsigned LEB128 varint, and returns it with
/// the bytes after it.
fn read_varint_string(bytes: &[u8]) -> Result<(String, &[u8]), String> {
    let mut length: u64 = 0;
    let mut shift = 0;
    let mut index = 0;
    loop {
        let byte = *bytes
            .get(index)
            .ok_or("the Go build info string length is truncated")?;
        index += 1;
        length |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err("the Go build info string length is invalid".to_owned());
        }
    }
    let rest = &bytes[index..];
    let length = usize::try_from(length)
        .ok()
        .filter(|length| *length <= rest.len())
        .ok_or("the Go build info string is longer than its section")?;
    Ok((
        String::from_utf8_lossy(&rest[..length]).into_owned(),
        &rest[length..],
    ))
}

/// Removes the 16-byte sentinels the linker puts around the module list.
fn strip_sentinels(modinfo: &str) -> &str {
    let bytes = modinfo.as_bytes();
    if bytes.len() >= 33 && bytes[bytes.len() - 17] == b'\n' {
        modinfo.get(16..bytes.len() - 16).unwrap_or(modinfo)
    } else {
        modinfo
    }
}

/// Maps an object architecture to its GOARCH name.
fn goarch(architecture: object::Architecture) -> &'static str {
    use object::Architecture;
    match architecture {
        Architecture::X86_64 => "amd64",
        Architecture::I386 => "386",
        Architecture::Aarch64 => "arm64",
        Architecture::Arm => "arm",
        Architecture::PowerPc64 => "ppc64",
        Architecture::S390x => "s390x",
        Architecture::Riscv64 => "riscv64",
        Architecture::LoongArch64 => "loong64",
        Architecture::Mips => "mips",
        Architecture::Mips64 => "mips64",
        _ => "",
    }
}

/// One module of the module list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub version: String,
    /// The `h1:` go.sum hash, empty for the main module and for replaced local paths.
    pub sum: String,
    /// The module that a `=>` line put in place of this one.
    pub replace: Option<Box<Module>>,
}

/// The parsed module list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// The `path` line: the package path of the main package.
    pub path: String,
    pub main: Module,
    pub deps: Vec<Module>,
    /// The `build` lines in order, with keys and values unquoted.
    pub settings: Vec<(String, String)>,
}

/// Parses the module list. Unknown lines are skipped, as the Go toolchain's parser does for
/// forward compatibility. A `=>` line without a module before it is an error.
pub fn parse_modinfo(text: &str) -> Result<ModInfo, String> {
    let mut info = ModInfo::default();
    // Which module a `=>` line replaces: the main module or the last dependency.
    let mut last: Option<usize> = None;
    let mut has_main = false;
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.first().copied() {
            Some("path") => info.path = fields.get(1).copied().unwrap_or("").to_owned(),
            Some("mod") => {
                info.main = module(&fields[1..]);
                has_main = true;
                last = None;
            }
            Some("dep") => {
                info.deps.push(module(&fields[1..]));
                last = Some(info.deps.len() - 1);
            }
            Some("=>") => {
                let replacement = Box::new(module(&fields[1..]));
                match last {
                    Some(index) => info.deps[index].replace = Some(replacement),
                    None if has_main => info.main.replace = Some(replacement),
                    None => {
                        return Err(format!(
                            "line {} of the Go module list replaces no module",
                            number + 1
                        ));
                    }
                }
            }
            Some("build") => {
                let setting = fields[1..].join("\t");
                let (key, value) = split_setting(&setting);
                info.settings.push((key, value));
            }
            _ => {}
        }
    }
    Ok(info)
}

fn module(fields: &[&str]) -> Module {
    let field = |index: usize| fields.get(index).copied().unwrap_or("").to_owned();
    Module {
        path: field(0),
        version: field(1),
        sum: field(2),
        replace: None,
    }
}

/// Splits a `key=value` build setting. Either side may be a quoted Go string literal, which
/// the toolchain writes when it contains spaces, quotes or `=`.
fn split_setting(setting: &str) -> (String, String) {
    let (key, rest) = if setting.starts_with('"') {
        match quoted_prefix(setting) {
            Some(end) => (unquote(&setting[..end]), &setting[end..]),
            None => (setting.to_owned(), ""),
        }
    } else {
        match setting.find('=') {
            Some(index) => (setting[..index].to_owned(), &setting[index..]),
            None => (setting.to_owned(), ""),
        }
    };
    let value = rest.strip_prefix('=').unwrap_or(rest);
    let value = if value.starts_with('"') && value.len() >= 2 && value.ends_with('"') {
        unquote(value)
    } else {
        value.to_owned()
    };
    (key, value)
}

/// Returns the end of the quoted string that opens `text`.
fn quoted_prefix(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, character) in text.char_indices().skip(1) {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(index + 1),
            _ => {}
        }
    }
    None
}

/// Decodes a double-quoted Go string literal. Escapes it does not know are kept as written.
fn unquote(literal: &str) -> String {
    let inner = &literal[1..literal.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut characters = inner.chars();
    while let Some(character) = characters.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        match characters.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('x') => {
                let hex: String = characters.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(byte) => out.push(char::from(byte)),
                    Err(_) => {
                        out.push_str("\\x");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODINFO: &str = "path\texample.com/app/cmd/app\n\
        mod\texample.com/app\t(devel)\t\n\
        dep\tgithub.com/pkg/errors\tv0.9.1\th1:FEBLx1zS214owpjy7qsBeixbURkuhQAwrK5UwLGTwt4=\n\
        dep\texample.com/lib\tv1.0.0\t\n\
        =>\t./lib\t(devel)\t\n\
        build\t-compiler=gc\n\
        build\t-ldflags=\"-X main.version=1.2.3 -s\"\n\
        build\t\"key with space\"=value\n\
        build\tGOARCH=amd64\n";

    #[test]
    fn modinfo_modules_and_replacement() {
        let info = parse_modinfo(MODINFO).unwrap();
        assert_eq!(info.path, "example.com/app/cmd/app");
        assert_eq!(info.main.path, "example.com/app");
        assert_eq!(info.main.version, "(devel)");
        assert_eq!(info.deps.len(), 2);
        assert_eq!(info.deps[0].path, "github.com/pkg/errors");
        assert_eq!(
            info.deps[0].sum,
            "h1:FEBLx1zS214owpjy7qsBeixbURkuhQAwrK5UwLGTwt4="
        );
        let replaced = info.deps[1].replace.as_ref().unwrap();
        assert_eq!(replaced.path, "./lib");
        assert_eq!(replaced.version, "(devel)");
    }

    #[test]
    fn modinfo_settings_are_unquoted() {
        let info = parse_modinfo(MODINFO).unwrap();
        assert_eq!(info.settings[0], ("-compiler".into(), "gc".into()));
        assert_eq!(
            info.settings[1],
            ("-ldflags".into(), "-X main.version=1.2.3 -s".into())
        );
        assert_eq!(info.settings[2], ("key with space".into(), "value".into()));
        assert_eq!(info.settings[3], ("GOARCH".into(), "amd64".into()));
    }

    #[test]
    fn replacement_without_module_is_error() {
        assert!(parse_modinfo("=>\t./x\t(devel)\t\n").is_err());
    }

    /// Builds a little-endian x86-64 ELF file whose only allocated section is `.go.buildinfo`
    /// at virtual address `ADDRESS`, holding `contents`.
    fn elf_with_buildinfo(contents: &[u8]) -> Vec<u8> {
        let names = b"\0.go.buildinfo\0.shstrtab\0";
        let data_offset = 64u64;
        let names_offset = data_offset + contents.len() as u64;
        let headers_offset = names_offset + names.len() as u64;
        let mut elf = Vec::new();
        elf.extend_from_slice(b"\x7fELF\x02\x01\x01");
        elf.resize(16, 0);
        elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        elf.extend_from_slice(&1u32.to_le_bytes());
        elf.extend_from_slice(&0u64.to_le_bytes()); // entry
        elf.extend_from_slice(&0u64.to_le_bytes()); // program headers
        elf.extend_from_slice(&headers_offset.to_le_bytes());
        elf.extend_from_slice(&0u32.to_le_bytes());
        for value in [64u16, 56, 0, 64, 3, 2] {
            elf.extend_from_slice(&value.to_le_bytes());
        }
        elf.extend_from_slice(contents);
        elf.extend_from_slice(names);
        let section = |elf: &mut Vec<u8>, fields: (u32, u32, u64, u64, u64, u64)| {
            let (name, kind, flags, address, offset, size) = fields;
            elf.extend_from_slice(&name.to_le_bytes());
            elf.extend_from_slice(&kind.to_le_bytes());
            for value in [flags, address, offset, size] {
                elf.extend_from_slice(&value.to_le_bytes());
            }
            elf.extend_from_slice(&[0; 8]); // link, info
            elf.extend_from_slice(&1u64.to_le_bytes());
            elf.extend_from_slice(&0u64.to_le_bytes());
        };
        section(&mut elf, (0, 0, 0, 0, 0, 0));
        section(
            &mut elf,
            (1, 1, 3, ADDRESS, data_offset, contents.len() as u64),
        );
        section(&mut elf, (15, 3, 0, 0, names_offset, names.len() as u64));
        elf
    }

    const ADDRESS: u64 = 0x40_1000;
    const WRAPPED_MODINFO: &str = "0123456789abcdefpath\tx\nmod\tx\t(devel)\t\n\x00123456789abcdef";

    #[test]
    fn pointer_format_is_resolved() {
        // Header, then two Go string headers at +32 and +48, then the bytes they point to.
        let version = b"go1.16.15";
        let modinfo = WRAPPED_MODINFO.as_bytes();
        let mut blob = MAGIC.to_vec();
        blob.push(8);
        blob.push(0);
        blob.extend_from_slice(&(ADDRESS + 32).to_le_bytes());
        blob.extend_from_slice(&(ADDRESS + 48).to_le_bytes());
        blob.extend_from_slice(&(ADDRESS + 64).to_le_bytes());
        blob.extend_from_slice(&(version.len() as u64).to_le_bytes());
        blob.extend_from_slice(&(ADDRESS + 64 + version.len() as u64).to_le_bytes());
        blob.extend_from_slice(&(modinfo.len() as u64).to_le_bytes());
        blob.extend_from_slice(version);
        blob.extend_from_slice(modinfo);
        let elf = elf_with_buildinfo(&blob);
        let info = read_elf(&elf[..]).unwrap().unwrap();
        assert_eq!(info.go_version, "go1.16.15");
        assert_eq!(info.modinfo, "path\tx\nmod\tx\t(devel)\t\n");
        assert_eq!(info.machine_arch, "amd64");
    }

    #[test]
    fn inline_format_and_bad_pointers() {
        let mut blob = MAGIC.to_vec();
        blob.push(8);
        blob.push(FLAG_INLINE);
        blob.resize(HEADER_LEN, 0);
        blob.push(8);
        blob.extend_from_slice(b"go1.22.1");
        blob.push(WRAPPED_MODINFO.len() as u8);
        blob.extend_from_slice(WRAPPED_MODINFO.as_bytes());
        let info = read_elf(&elf_with_buildinfo(&blob)[..]).unwrap().unwrap();
        assert_eq!(info.go_version, "go1.22.1");
        assert_eq!(info.modinfo, "path\tx\nmod\tx\t(devel)\t\n");

        let mut broken = MAGIC.to_vec();
        broken.push(8);
        broken.push(0);
        broken.extend_from_slice(&0xdead_0000u64.to_le_bytes());
        broken.extend_from_slice(&0xdead_0000u64.to_le_bytes());
        let error = read_elf(&elf_with_buildinfo(&broken)[..]).unwrap_err();
        assert!(error.contains("0xdead0000"), "{error}");
    }

    #[test]
    fn elf_without_buildinfo_is_none() {
        let elf = elf_with_buildinfo(b"not build info at all, just data bytes");
        assert_eq!(read_elf(&elf[..]).unwrap(), None);
        assert_eq!(read_elf(&b"not an ELF file"[..]).unwrap(), None);
    }

    #[test]
    fn varint_strings_and_sentinels() {
        let mut bytes = vec![3];
        bytes.extend_from_slice(b"abc");
        bytes.push(0x81);
        bytes.push(0x01);
        bytes.extend(std::iter::repeat_n(b'x', 129));
        let (first, rest) = read_varint_string(&bytes).unwrap();
        assert_eq!(first, "abc");
        let (second, rest) = read_varint_string(rest).unwrap();
        assert_eq!(second.len(), 129);
        assert!(rest.is_empty());
        assert!(read_varint_string(&[5, b'a']).is_err());

        let wrapped = format!("{}mod\tx\n{}", "0".repeat(16), "1".repeat(16));
        assert_eq!(strip_sentinels(&wrapped), "mod\tx\n");
        assert_eq!(strip_sentinels("mod\tx"), "mod\tx");
    }
}
