//! A reader of protobuf's text format into a tree of named fields, for Caffe's prototxt.
//! spec/caffe-import.md (CAFFE-4)
//!
//! It knows no schema: `name: scalar` and `name { ... }` become fields, in order, each with
//! its line and column, so that the reader of the fields (src/caffe/prototxt.rs) can say
//! where a wrong value is.

/// A place in the text: 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// A syntax error and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextError {
    pub at: Position,
    pub reason: String,
}

/// A scalar as written: a number, an identifier (an enum value, true, false) or a string.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Number(String),
    Identifier(String),
    Str(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum TextValue {
    Scalar(Scalar),
    Message(TextMessage),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TextField {
    pub name: String,
    pub value: TextValue,
    pub at: Position,
}

/// A message: its fields in the order written.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TextMessage {
    pub fields: Vec<TextField>,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Number(String),
    Str(String),
    Punct(char),
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    at: Position,
}

/// Nesting deeper than this is refused (a hostile file cannot exhaust the stack).
const MAX_DEPTH: usize = 100;

impl<'a> Lexer<'a> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.at.line += 1;
            self.at.column = 1;
        } else {
            self.at.column += 1;
        }
        Some(c)
    }

    fn error(at: Position, reason: String) -> TextError {
        TextError { at, reason }
    }

    /// The next token and where it starts, or None at the end.
    fn next(&mut self) -> Result<Option<(Token, Position)>, TextError> {
        loop {
            match self.chars.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => {
                    while self.chars.peek().is_some_and(|&c| c != '\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
        let start = self.at;
        let Some(&c) = self.chars.peek() else {
            return Ok(None);
        };
        let token = if c.is_ascii_alphabetic() || c == '_' {
            let mut word = String::new();
            while let Some(&c) = self.chars.peek() {
                if !(c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                    break;
                }
                word.push(c);
                self.bump();
            }
            Token::Word(word)
        } else if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' {
            let mut number = String::new();
            while let Some(&c) = self.chars.peek() {
                let exponent_sign = (c == '-' || c == '+')
                    && number.ends_with(['e', 'E'])
                    && !number.starts_with("0x");
                if !(c.is_ascii_alphanumeric() || c == '.' || exponent_sign || number.is_empty()) {
                    break;
                }
                number.push(c);
                self.bump();
            }
            Token::Number(number)
        } else if c == '"' || c == '\'' {
            Token::Str(self.string(c, start)?)
        } else if "{}<>:[],;".contains(c) {
            self.bump();
            Token::Punct(c)
        } else {
            return Err(Self::error(start, format!("unexpected character {c:?}")));
        };
        Ok(Some((token, start)))
    }

    /// A quoted string with protobuf's escapes; the opening quote is next.
    fn string(&mut self, quote: char, start: Position) -> Result<String, TextError> {
        self.bump();
        let mut bytes = Vec::new();
        loop {
            let at = self.at;
            match self.bump() {
                None | Some('\n') => {
                    return Err(Self::error(
                        start,
                        "a string is not closed on its line".into(),
                    ))
                }
                Some(c) if c == quote => break,
                Some('\\') => {
                    let escaped = self.bump();
                    match escaped {
                        Some('n') => bytes.push(b'\n'),
                        Some('t') => bytes.push(b'\t'),
                        Some('r') => bytes.push(b'\r'),
                        Some(c @ ('\\' | '\'' | '"' | '?')) => bytes.push(c as u8),
                        Some('x') => {
                            let mut value = 0u32;
                            let mut digits = 0;
                            while digits < 2 {
                                match self.chars.peek().and_then(|c| c.to_digit(16)) {
                                    Some(d) => {
                                        value = value * 16 + d;
                                        digits += 1;
                                        self.bump();
                                    }
                                    None => break,
                                }
                            }
                            if digits == 0 {
                                return Err(Self::error(at, "\\x needs a hex digit".into()));
                            }
                            bytes.push(value as u8);
                        }
                        Some(c @ '0'..='7') => {
                            let mut value = c.to_digit(8).expect("an octal digit");
                            for _ in 0..2 {
                                match self.chars.peek().and_then(|c| c.to_digit(8)) {
                                    Some(d) => {
                                        value = value * 8 + d;
                                        self.bump();
                                    }
                                    None => break,
                                }
                            }
                            if value > 255 {
                                return Err(Self::error(at, "an octal escape past \\377".into()));
                            }
                            bytes.push(value as u8);
                        }
                        other => {
                            return Err(Self::error(
                                at,
                                format!("unknown escape \\{}", other.unwrap_or(' ')),
                            ))
                        }
                    }
                }
                Some(c) => {
                    let mut buffer = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                }
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A token with one token of look-ahead.
struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Option<(Token, Position)>>,
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Result<&Option<(Token, Position)>, TextError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn next(&mut self) -> Result<Option<(Token, Position)>, TextError> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lexer.next(),
        }
    }

    fn end_position(&self) -> Position {
        self.lexer.at
    }

    /// The fields up to `close` (a `}` or `>`), or to the end of the text when None.
    fn message(&mut self, close: Option<char>, depth: usize) -> Result<TextMessage, TextError> {
        let mut message = TextMessage::default();
        loop {
            let Some((token, at)) = self.next()? else {
                return match close {
                    None => Ok(message),
                    Some(c) => Err(TextError {
                        at: self.end_position(),
                        reason: format!("the text ends before a message is closed with '{c}'"),
                    }),
                };
            };
            let name = match token {
                Token::Punct(c) if Some(c) == close => return Ok(message),
                Token::Punct(',' | ';') if !message.fields.is_empty() => continue,
                Token::Word(name) => name,
                other => {
                    return Err(TextError {
                        at,
                        reason: format!("expected a field name, found {}", describe(&other)),
                    })
                }
            };
            let colon = matches!(self.peek()?, Some((Token::Punct(':'), _)));
            if colon {
                self.next()?;
            }
            let value = match self.next()? {
                Some((Token::Punct(open @ ('{' | '<')), open_at)) => {
                    if depth >= MAX_DEPTH {
                        return Err(TextError {
                            at: open_at,
                            reason: format!("messages nested more than {MAX_DEPTH} deep"),
                        });
                    }
                    let close = if open == '{' { '}' } else { '>' };
                    TextValue::Message(self.message(Some(close), depth + 1)?)
                }
                Some((Token::Punct('['), open_at)) if colon => {
                    // A list of scalars: `dim: [1, 2]` is `dim: 1 dim: 2`.
                    let values = self.list(open_at)?;
                    for scalar in values {
                        message.fields.push(TextField {
                            name: name.clone(),
                            value: TextValue::Scalar(scalar),
                            at,
                        });
                    }
                    continue;
                }
                Some((token, value_at)) if colon => {
                    TextValue::Scalar(self.scalar(token, value_at, &name)?)
                }
                Some((token, value_at)) => {
                    return Err(TextError {
                        at: value_at,
                        reason: format!(
                            "expected ':' or '{{' after the field name \"{name}\", found {}",
                            describe(&token)
                        ),
                    })
                }
                None => {
                    return Err(TextError {
                        at: self.end_position(),
                        reason: format!("the text ends after the field name \"{name}\""),
                    })
                }
            };
            message.fields.push(TextField { name, value, at });
        }
    }

    fn scalar(&mut self, token: Token, at: Position, name: &str) -> Result<Scalar, TextError> {
        match token {
            Token::Number(n) => Ok(Scalar::Number(n)),
            Token::Word(w) => Ok(Scalar::Identifier(w)),
            Token::Str(mut s) => {
                // Adjacent strings are one string.
                while let Some((Token::Str(_), _)) = self.peek()? {
                    if let Some((Token::Str(more), _)) = self.next()? {
                        s.push_str(&more);
                    }
                }
                Ok(Scalar::Str(s))
            }
            Token::Punct(c) => Err(TextError {
                at,
                reason: format!("expected a value for \"{name}\", found '{c}'"),
            }),
        }
    }

    fn list(&mut self, open_at: Position) -> Result<Vec<Scalar>, TextError> {
        let mut values = Vec::new();
        loop {
            match self.next()? {
                Some((Token::Punct(']'), _)) => return Ok(values),
                Some((Token::Punct(','), _)) if !values.is_empty() => {}
                Some((token @ (Token::Number(_) | Token::Word(_) | Token::Str(_)), at)) => {
                    values.push(self.scalar(token, at, "a list")?)
                }
                Some((token, at)) => {
                    return Err(TextError {
                        at,
                        reason: format!("expected a value or ']', found {}", describe(&token)),
                    })
                }
                None => {
                    return Err(TextError {
                        at: open_at,
                        reason: "the list is not closed with ']'".to_string(),
                    })
                }
            }
        }
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("\"{w}\""),
        Token::Number(n) => format!("\"{n}\""),
        Token::Str(s) => format!("the string {s:?}"),
        Token::Punct(c) => format!("'{c}'"),
    }
}

/// Parses a whole text-format message. spec/caffe-import.md (CAFFE-4)
pub fn parse_text(text: &str) -> Result<TextMessage, TextError> {
    let mut parser = Parser {
        lexer: Lexer {
            chars: text.chars().peekable(),
            at: Position { line: 1, column: 1 },
        },
        peeked: None,
    };
    parser.message(None, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_messages_scalars_and_positions() {
        let text = "name: \"n\" # comment\nlayer {\n  top: 'a' bottom: \"b\"\n  p < x: -1.5e-3 y: MAX >\n}\n";
        let m = parse_text(text).unwrap();
        assert_eq!(m.fields.len(), 2);
        assert_eq!(
            m.fields[0].value,
            TextValue::Scalar(Scalar::Str("n".into()))
        );
        let TextValue::Message(layer) = &m.fields[1].value else {
            panic!("a message")
        };
        assert_eq!(
            layer.fields[1].at,
            Position {
                line: 3,
                column: 12
            }
        );
        let TextValue::Message(p) = &layer.fields[2].value else {
            panic!("a message")
        };
        assert_eq!(
            p.fields[0].value,
            TextValue::Scalar(Scalar::Number("-1.5e-3".into()))
        );
        assert_eq!(
            p.fields[1].value,
            TextValue::Scalar(Scalar::Identifier("MAX".into()))
        );
    }

    #[test]
    fn errors_say_line_and_column() {
        let e = parse_text("layer {\n  num_output 8\n}").unwrap_err();
        assert_eq!(
            e.at,
            Position {
                line: 2,
                column: 14
            }
        );
        assert_eq!(
            e.reason,
            "expected ':' or '{' after the field name \"num_output\", found \"8\""
        );
        let e = parse_text("layer {\n  top: \"a\"\n").unwrap_err();
        assert!(
            e.reason.contains("before a message is closed"),
            "{}",
            e.reason
        );
        assert!(parse_text(&"a {".repeat(200)).is_err());
    }

    #[test]
    fn escapes_and_joined_strings() {
        let m = parse_text(r#"s: "a\tb" 'c\x41\101'"#).unwrap();
        assert_eq!(
            m.fields[0].value,
            TextValue::Scalar(Scalar::Str("a\tbcAA".into()))
        );
    }
}
