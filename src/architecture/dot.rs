//! Graphviz DOT: `graph`/`digraph` (optionally `strict`), node statements with a `label`, edge
//! chains (`a -> b -> c`, `--` in undirected graphs), subgraphs as edge ends, attribute
//! statements, `//`, `#` and `/* */` comments, quoted and HTML ids. An edge is a call from its
//! tail to its head; `dir=back` reverses it, `dir=both` makes it both ways, `style=invis` drops it.

use super::{ArchitectureError, Diagram, DiagramFormat};

const FORMAT: DiagramFormat = DiagramFormat::Dot;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// An identifier, number, quoted or HTML string.
    Id(String),
    /// `{ } [ ] ; , = :`
    Punct(char),
    /// `->` or `--`
    EdgeOp,
}

struct Tokens {
    items: Vec<(Token, u32)>,
    position: usize,
    last_line: u32,
}

fn tokenize(origin: &str, text: &str) -> Result<Tokens, ArchitectureError> {
    let mut items = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut line = 1u32;
    let mut line_start = true;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            line_start = true;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // `#` lines are C-preprocessor output, comments to Graphviz.
        if (c == '#' && line_start) || (c == '/' && chars.get(i + 1) == Some(&'/')) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        line_start = false;
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            let start_line = line;
            i += 2;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(ArchitectureError::syntax(
                            origin,
                            start_line,
                            FORMAT,
                            "unclosed /* comment",
                        ));
                    }
                    Some('*') if chars.get(i + 1) == Some(&'/') => {
                        i += 2;
                        break;
                    }
                    Some('\n') => line += 1,
                    Some(_) => {}
                }
                i += 1;
            }
            continue;
        }
        let token_line = line;
        if c == '"' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(ArchitectureError::syntax(
                            origin,
                            token_line,
                            FORMAT,
                            "unclosed quoted string",
                        ));
                    }
                    Some('"') => break,
                    Some('\\') if chars.get(i + 1) == Some(&'"') => {
                        value.push('"');
                        i += 1;
                    }
                    Some('\\') if chars.get(i + 1) == Some(&'\n') => {
                        line += 1;
                        i += 1;
                    }
                    Some(other) => {
                        if *other == '\n' {
                            line += 1;
                        }
                        value.push(*other);
                    }
                }
                i += 1;
            }
            i += 1;
            items.push((Token::Id(value), token_line));
            continue;
        }
        if c == '<' {
            let mut depth = 0;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(ArchitectureError::syntax(
                            origin,
                            token_line,
                            FORMAT,
                            "unclosed HTML string",
                        ));
                    }
                    Some('<') => depth += 1,
                    Some('>') => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    Some('\n') => line += 1,
                    Some(_) => {}
                }
                if let Some(&ch) = chars.get(i) {
                    value.push(ch);
                }
                i += 1;
            }
            items.push((Token::Id(strip_tags(&value)), token_line));
            continue;
        }
        if (c == '-') && matches!(chars.get(i + 1), Some('>') | Some('-')) {
            items.push((Token::EdgeOp, token_line));
            i += 2;
            continue;
        }
        if "{}[];,=:".contains(c) {
            items.push((Token::Punct(c), token_line));
            i += 1;
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' || !c.is_ascii() {
            let start = i;
            while i < chars.len() {
                let ch = chars[i];
                let edge_next = ch == '-' && matches!(chars.get(i + 1), Some('>') | Some('-'));
                if (ch.is_alphanumeric() || ch == '_' || ch == '.' || ch == '-' || !ch.is_ascii())
                    && !edge_next
                {
                    i += 1;
                } else {
                    break;
                }
            }
            items.push((Token::Id(chars[start..i].iter().collect()), token_line));
            continue;
        }
        return Err(ArchitectureError::syntax(
            origin,
            token_line,
            FORMAT,
            format!("unexpected character `{c}`"),
        ));
    }
    Ok(Tokens {
        items,
        position: 0,
        last_line: line,
    })
}

/// The text of an HTML label, tags removed.
fn strip_tags(html: &str) -> String {
    let inner = html
        .strip_prefix('<')
        .and_then(|h| h.strip_suffix('>'))
        .unwrap_or(html);
    let mut out = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Tokens {
    fn peek(&self) -> Option<&Token> {
        self.items.get(self.position).map(|(t, _)| t)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.items.get(self.position + ahead).map(|(t, _)| t)
    }

    fn line(&self) -> u32 {
        self.items
            .get(self.position)
            .map_or(self.last_line, |(_, l)| *l)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.items.get(self.position).map(|(t, _)| t.clone());
        self.position += 1;
        token
    }

    fn eat(&mut self, punct: char) -> bool {
        if self.peek() == Some(&Token::Punct(punct)) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn id(&mut self) -> Option<String> {
        match self.peek() {
            Some(Token::Id(id)) => {
                let id = id.clone();
                self.position += 1;
                Some(id)
            }
            _ => None,
        }
    }
}

struct Parser<'o> {
    origin: &'o str,
    tokens: Tokens,
    diagram: Diagram,
}

pub(super) fn parse(origin: &str, text: &str) -> Result<Diagram, ArchitectureError> {
    let tokens = tokenize(origin, text)?;
    let mut parser = Parser {
        origin,
        tokens,
        diagram: Diagram::new(origin, FORMAT),
    };
    parser.graph()?;
    Ok(parser.diagram)
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ArchitectureError {
        ArchitectureError::syntax(self.origin, self.tokens.line(), FORMAT, message)
    }

    fn keyword(&self, token: Option<&Token>, word: &str) -> bool {
        matches!(token, Some(Token::Id(id)) if id.eq_ignore_ascii_case(word))
    }

    fn graph(&mut self) -> Result<(), ArchitectureError> {
        if self.keyword(self.tokens.peek(), "strict") {
            self.tokens.next();
        }
        if !(self.keyword(self.tokens.peek(), "graph")
            || self.keyword(self.tokens.peek(), "digraph"))
        {
            return Err(self.error("expected `graph` or `digraph`"));
        }
        self.tokens.next();
        if matches!(self.tokens.peek(), Some(Token::Id(_))) {
            self.tokens.next();
        }
        if !self.tokens.eat('{') {
            return Err(self.error("expected `{` to open the graph"));
        }
        self.statements()?;
        if !self.tokens.eat('}') {
            return Err(self.error("expected `}` to close the graph"));
        }
        if self.tokens.peek().is_some() {
            return Err(self.error("text after the graph's closing `}`"));
        }
        Ok(())
    }

    /// Statements until a `}` (not consumed); returns the node ids they mention.
    fn statements(&mut self) -> Result<Vec<String>, ArchitectureError> {
        let mut mentioned = Vec::new();
        loop {
            match self.tokens.peek() {
                None => return Err(self.error("missing `}`")),
                Some(Token::Punct('}')) => return Ok(mentioned),
                Some(Token::Punct(';')) => {
                    self.tokens.next();
                }
                _ => mentioned.extend(self.statement()?),
            }
        }
    }

    fn statement(&mut self) -> Result<Vec<String>, ArchitectureError> {
        let line = self.tokens.line();
        let first = self.tokens.peek();
        if ["graph", "node", "edge"]
            .iter()
            .any(|w| self.keyword(first, w))
            && self.tokens.peek_at(1) == Some(&Token::Punct('['))
        {
            self.tokens.next();
            self.attributes()?;
            return Ok(Vec::new());
        }
        if matches!(first, Some(Token::Id(_))) && self.tokens.peek_at(1) == Some(&Token::Punct('='))
        {
            self.tokens.next();
            self.tokens.next();
            if self.tokens.id().is_none() {
                return Err(self.error("expected a value after `=`"));
            }
            return Ok(Vec::new());
        }
        let mut ends = vec![self.operand()?];
        while self.tokens.peek() == Some(&Token::EdgeOp) {
            self.tokens.next();
            ends.push(self.operand()?);
        }
        let attributes = if self.tokens.peek() == Some(&Token::Punct('[')) {
            self.attributes()?
        } else {
            Vec::new()
        };
        let attribute = |name: &str| {
            attributes
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let mentioned: Vec<String> = ends.iter().flatten().cloned().collect();
        if let [single] = ends.as_slice() {
            if let [id] = single.as_slice() {
                self.diagram.labelled(id, attribute("label"), line);
            }
            return Ok(mentioned);
        }
        if attribute("style") == Some("invis") {
            return Ok(mentioned);
        }
        let direction = attribute("dir").unwrap_or("forward");
        for pair in ends.windows(2) {
            for a in &pair[0] {
                for b in &pair[1] {
                    match direction {
                        "back" => self.diagram.call(b, a, line),
                        "both" => {
                            self.diagram.call(a, b, line);
                            self.diagram.call(b, a, line);
                        }
                        _ => self.diagram.call(a, b, line),
                    }
                }
            }
        }
        Ok(mentioned)
    }

    /// A node id (with an optional port) or a subgraph; returns the node ids it stands for.
    fn operand(&mut self) -> Result<Vec<String>, ArchitectureError> {
        let first = self.tokens.peek();
        if self.keyword(first, "subgraph") || first == Some(&Token::Punct('{')) {
            if self.keyword(self.tokens.peek(), "subgraph") {
                self.tokens.next();
                if matches!(self.tokens.peek(), Some(Token::Id(_))) {
                    self.tokens.next();
                }
            }
            if !self.tokens.eat('{') {
                return Err(self.error("expected `{` to open the subgraph"));
            }
            let inside = self.statements()?;
            self.tokens.eat('}');
            return Ok(inside);
        }
        let line = self.tokens.line();
        let Some(id) = self.tokens.id() else {
            return Err(self.error("expected a node id"));
        };
        // `node:port:compass` names the node.
        while self.tokens.eat(':') {
            if self.tokens.id().is_none() {
                return Err(self.error("expected a port after `:`"));
            }
        }
        self.diagram.service(&id, line);
        Ok(vec![id])
    }

    /// `[a=b, c=d; ...]`, possibly several lists in a row.
    fn attributes(&mut self) -> Result<Vec<(String, String)>, ArchitectureError> {
        let mut attributes = Vec::new();
        while self.tokens.eat('[') {
            loop {
                if self.tokens.eat(']') {
                    break;
                }
                if self.tokens.eat(',') || self.tokens.eat(';') {
                    continue;
                }
                let Some(key) = self.tokens.id() else {
                    return Err(self.error("expected an attribute name or `]`"));
                };
                if self.tokens.eat('=') {
                    let Some(value) = self.tokens.id() else {
                        return Err(self.error(format!("expected a value for `{key}`")));
                    };
                    attributes.push((key, value));
                }
            }
        }
        Ok(attributes)
    }
}
