//! The header of a .npy file, read by ebr itself before npyz sees it: a strict reader of the
//! Python literal numpy writes (a dict of strings, booleans, integers, tuples and lists), so
//! that the shape ebr checks (element count, budget) is the shape npyz then uses.

/// How deep lists and tuples may nest in the header (a structured type nests a few levels).
const MAX_HEADER_DEPTH: usize = 32;

/// A value of the header's Python literal, as far as ebr looks at it.
#[derive(Debug)]
enum Literal<'a> {
    /// A string (what it says is not needed).
    Str,
    /// True, False or None.
    Name,
    /// A number as written, e.g. `3`, `3L`, `-3`, `1.5`.
    Number(&'a str),
    /// A tuple or a list.
    Sequence(Vec<Literal<'a>>),
    /// A dict: its keys (strings) and values, in order.
    Dict(Vec<(&'a str, Literal<'a>)>),
}

/// A reader of the Python literals numpy writes in .npy headers (`repr` of a dict of strings,
/// booleans, integers, tuples and lists). It accepts less than Python (no escapes, no string
/// prefixes, no hexadecimal), so that what it reads is what npyz's parser reads too: the shape
/// ebr checks is the shape npyz then uses.
struct LiteralReader<'a> {
    text: &'a str,
    at: usize,
    depth: usize,
}

impl<'a> LiteralReader<'a> {
    fn error<T>(&self, what: &str) -> Result<T, String> {
        Err(format!(
            "the header is not a Python literal as numpy writes it: {what} at byte {}",
            self.at
        ))
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    /// Consumes `c` (after spaces) if it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Literal<'a>, String> {
        self.skip_space();
        match self.peek() {
            Some(quote @ ('\'' | '"')) => self.string(quote).map(|_| Literal::Str),
            Some(open @ ('(' | '[' | '{')) => {
                if self.depth == MAX_HEADER_DEPTH {
                    return self.error(&format!("lists nested deeper than {MAX_HEADER_DEPTH}"));
                }
                self.depth += 1;
                self.at += 1;
                let value = if open == '{' {
                    self.dict_items().map(Literal::Dict)
                } else {
                    self.items(if open == '(' { ')' } else { ']' })
                        .map(Literal::Sequence)
                };
                self.depth -= 1;
                value
            }
            Some(c) if c == '-' || c.is_ascii_digit() => Ok(Literal::Number(self.number())),
            Some(c) if c.is_ascii_alphabetic() => {
                let rest = &self.text[self.at..];
                let len = rest
                    .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .unwrap_or(rest.len());
                match &rest[..len] {
                    "True" | "False" | "None" => {
                        self.at += len;
                        Ok(Literal::Name)
                    }
                    name => self.error(&format!("unexpected name {name:?}")),
                }
            }
            Some(c) => self.error(&format!("unexpected {c:?}")),
            None => self.error("unexpected end"),
        }
    }

    /// A string in `quote`s, without escapes; returns its content.
    fn string(&mut self, quote: char) -> Result<&'a str, String> {
        let start = self.at + 1;
        let rest = &self.text[start..];
        match rest.find([quote, '\\', '\n']) {
            Some(end) if rest[end..].starts_with(quote) => {
                self.at = start + end + 1;
                Ok(&rest[..end])
            }
            Some(end) => {
                self.at = start + end;
                self.error("an escape or a line break in a string")
            }
            None => self.error("a string without its closing quote"),
        }
    }

    /// An optional minus, digits, an optional fraction and exponent, an optional `L` (Python
    /// 2's long integers); what follows must not be a letter or digit.
    fn number(&mut self) -> &'a str {
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.' | '_')))
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    /// The items of a tuple or list up to `close`, a trailing comma allowed.
    fn items(&mut self, close: char) -> Result<Vec<Literal<'a>>, String> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.value()?);
            if !self.eat(',') {
                return if self.eat(close) {
                    Ok(items)
                } else {
                    self.error(&format!("expected ',' or '{close}'"))
                };
            }
        }
    }

    /// The `key: value` items of a dict up to `}`; keys are strings.
    fn dict_items(&mut self) -> Result<Vec<(&'a str, Literal<'a>)>, String> {
        let mut items = Vec::new();
        loop {
            if self.eat('}') {
                return Ok(items);
            }
            self.skip_space();
            let key = match self.peek() {
                Some(quote @ ('\'' | '"')) => self.string(quote)?,
                _ => return self.error("a dict key that is not a string"),
            };
            if !self.eat(':') {
                return self.error("expected ':'");
            }
            items.push((key, self.value()?));
            if !self.eat(',') {
                return if self.eat('}') {
                    Ok(items)
                } else {
                    self.error("expected ',' or '}'")
                };
            }
        }
    }
}

/// The sizes of the header's `'shape'`, read by ebr itself: the header must be one dict, as
/// numpy writes it, with one key 'shape' whose value is a tuple (or list) of whole numbers.
/// npyz multiplies the sizes it reads without checking (a panic in debug builds): ebr reads
/// the header first with a reader that accepts only what it and npyz read alike, and checks
/// the element count before npyz sees the header.
pub fn shape_in_header_text(text: &[u8]) -> Result<Vec<u64>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "the header is not UTF-8 text".to_string())?;
    let mut reader = LiteralReader {
        text,
        at: 0,
        depth: 0,
    };
    let value = reader.value()?;
    reader.skip_space();
    if reader.at != text.len() {
        return reader.error("text after the header's dict");
    }
    let items = match value {
        Literal::Dict(items) => items,
        other => {
            return Err(format!(
                "the header is not a dict (numpy writes {{'descr': ..., 'fortran_order': ..., 'shape': ...}}), found {}",
                match other {
                    Literal::Sequence(_) => "a tuple or list",
                    _ => "a single value",
                }
            ))
        }
    };
    let mut shapes = items.iter().filter(|(key, _)| *key == "shape");
    let shape = match (shapes.next(), shapes.next()) {
        (Some((_, shape)), None) => shape,
        (None, _) => return Err("the header dict is missing key 'shape'".to_string()),
        (Some(_), Some(_)) => return Err("the header dict has the key 'shape' twice".to_string()),
    };
    let sizes = match shape {
        Literal::Sequence(sizes) => sizes,
        _ => return Err("the header's 'shape' is not a tuple".to_string()),
    };
    sizes
        .iter()
        .map(|size| match size {
            Literal::Number(n) if n.starts_with('-') => {
                Err(format!("the header's 'shape' has a negative size {n}"))
            }
            // Python 2's numpy wrote long integers as `3L`.
            Literal::Number(n) if is_whole_number(n.strip_suffix('L').unwrap_or(n)) => {
                let digits = n.strip_suffix('L').unwrap_or(n);
                digits
                    .parse::<u64>()
                    .map_err(|_| format!("the header's 'shape' has a size {n} larger than 64 bits"))
            }
            Literal::Number(n) => Err(format!(
                "the header's 'shape' has a size {n} that is not an integer"
            )),
            _ => Err("the header's 'shape' has a size that is not an integer".to_string()),
        })
        .collect()
}

/// True for one or more decimal digits.
fn is_whole_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}
