//! Our safe XML reader on quick-xml: the one way a SAML message's text becomes a tree.
//!
//! It refuses, before anything is expanded: any DOCTYPE (so any DTD and entity declaration:
//! XXE, billion laughs), references to entities XML does not predefine, processing
//! instructions, an encoding other than UTF-8, more than `MAX_XML_BYTES`, more than
//! `MAX_DEPTH` levels and more than `MAX_ELEMENTS` elements. Element and attribute names are
//! resolved to their namespace (a prefix bound elsewhere does not pass for `samlp:`).
//!
//! Text is read as the element's full text content: text and CDATA pieces are joined and
//! comments dropped, so `<NameID>a<!---->b</NameID>` reads as `ab` — exactly what exclusive
//! C14N without comments signed. A reader that took the first text node would see `a`
//! (the comment-injection attack on SAML libraries of 2018); [`Element::text`] never does.

use super::error::SamlError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// The largest XML message we read (a signed Response with attributes is a few KiB).
pub const MAX_XML_BYTES: usize = 256 * 1024;
/// The deepest nesting we read (a Response's attribute values sit at depth 6).
pub const MAX_DEPTH: usize = 32;
/// The most elements one message may have.
pub const MAX_ELEMENTS: usize = 4_096;

/// An attribute: namespace (None when unprefixed), local name, normalised value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub ns: Option<String>,
    pub name: String,
    pub value: String,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    /// Text (character data, resolved references, CDATA); comments are not kept.
    Text(String),
}

/// An element with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: Option<String>,
    pub name: String,
    pub attrs: Vec<Attribute>,
    pub children: Vec<Node>,
}

impl Element {
    /// Whether this is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == name
    }

    /// The value of an unqualified attribute (SAML's own attributes are unqualified).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.name == name)
            .map(|a| a.value.as_str())
    }

    /// Child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Child elements named `{ns}name`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> {
        self.elements().filter(move |e| e.is(ns, name))
    }

    /// The one child `{ns}name`, if there is exactly one; two is an error (which one would a
    /// reader take?).
    pub fn child<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> Result<Option<&'a Element>, SamlError> {
        let mut found = self.children_named(ns, name);
        let first = found.next();
        if found.next().is_some() {
            return Err(SamlError::invalid(format!("more than one {name}")));
        }
        Ok(first)
    }

    /// The full text content of an element that holds only text: all its text joined
    /// (comments were dropped when read). An element inside is refused: a NameID or Issuer has
    /// none, and reading around one is how wrapped values slip through.
    pub fn text(&self) -> Result<String, SamlError> {
        let mut out = String::new();
        for node in &self.children {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Element(_) => {
                    return Err(SamlError::invalid(format!(
                        "{} must hold text only",
                        self.name
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// Reads `xml` into a tree under every bound above. The document element is returned.
pub fn parse(xml: &str) -> Result<Element, SamlError> {
    if xml.len() > MAX_XML_BYTES {
        return Err(SamlError::TooLarge);
    }
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().check_end_names = true;
    reader.config_mut().expand_empty_elements = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let mut started = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| SamlError::Malformed(e.to_string()))?;
        let ns = namespace(&ns)?;
        match event {
            Event::Decl(decl) => {
                if started {
                    return Err(SamlError::Malformed("misplaced XML declaration".into()));
                }
                check_declaration(&decl)?;
            }
            Event::DocType(_) => return Err(SamlError::Dtd),
            Event::PI(_) => {
                return Err(SamlError::Malformed(
                    "processing instructions are not allowed".into(),
                ));
            }
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(SamlError::Malformed(
                    "more than one document element".into(),
                ));
            }
            Event::Start(start) => {
                count += 1;
                stack.push(bounded_element(&reader, ns, &start, count, stack.len())?);
            }
            Event::Empty(start) => {
                count += 1;
                let done = bounded_element(&reader, ns, &start, count, stack.len())?;
                close(&mut stack, &mut root, done);
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| SamlError::Malformed("unexpected end tag".into()))?;
                close(&mut stack, &mut root, done);
            }
            Event::Text(text) => push_text(&mut stack, &text.xml10_content())?,
            Event::CData(data) => push_text(&mut stack, &data.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                        .ok_or(SamlError::Entity)?
                        .to_owned(),
                    Err(e) => return Err(SamlError::Malformed(e.to_string())),
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::Comment(_) => {}
            Event::Eof => break,
        }
        started = true;
    }
    if !stack.is_empty() {
        return Err(SamlError::Malformed("unclosed element".into()));
    }
    root.ok_or_else(|| SamlError::Malformed("no document element".into()))
}

/// Only UTF-8 (what a `&str` is): a declaration naming another encoding would make other
/// parsers read other characters.
fn check_declaration(decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), SamlError> {
    if let Some(encoding) = decl.encoding() {
        let encoding = encoding.map_err(|e| SamlError::Malformed(e.to_string()))?;
        if !encoding.eq_ignore_ascii_case("utf-8") {
            return Err(SamlError::Malformed("only UTF-8 is read".into()));
        }
    }
    Ok(())
}

fn namespace(ns: &ResolveResult<'_>) -> Result<Option<String>, SamlError> {
    match ns {
        ResolveResult::Bound(ns) => Ok(Some(ns.as_ref().to_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(SamlError::Malformed(format!(
            "unbound namespace prefix {prefix:?}"
        ))),
    }
}

/// The `count`th element, opened at `depth`, within the bounds.
fn bounded_element(
    reader: &NsReader<&[u8]>,
    ns: Option<String>,
    start: &BytesStart<'_>,
    count: usize,
    depth: usize,
) -> Result<Element, SamlError> {
    if count > MAX_ELEMENTS {
        return Err(SamlError::TooLarge);
    }
    if depth >= MAX_DEPTH {
        return Err(SamlError::TooDeep);
    }
    element(reader, ns, start)
}

fn element(
    reader: &NsReader<&[u8]>,
    ns: Option<String>,
    start: &BytesStart<'_>,
) -> Result<Element, SamlError> {
    let name = start.local_name().as_ref().to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| SamlError::Malformed(e.to_string()))?;
        let key = attr.key;
        if key.as_ref() == "xmlns" || key.as_ref().starts_with("xmlns:") {
            continue;
        }
        let (ns, local) = reader.resolver().resolve_attribute(key);
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| match e {
                quick_xml::Error::Escape(_) => SamlError::Entity,
                other => SamlError::Malformed(other.to_string()),
            })?;
        attrs.push(Attribute {
            ns: namespace(&ns)?,
            name: local.as_ref().to_owned(),
            value: value.into_owned(),
        });
    }
    Ok(Element {
        ns,
        name,
        attrs,
        children: Vec::new(),
    })
}

fn close(stack: &mut [Element], root: &mut Option<Element>, done: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(done)),
        None => *root = Some(done),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), SamlError> {
    let Some(parent) = stack.last_mut() else {
        // Outside the document element only whitespace is well-formed.
        if text.chars().all(char::is_whitespace) {
            return Ok(());
        }
        return Err(SamlError::Malformed(
            "text outside the document element".into(),
        ));
    };
    match parent.children.last_mut() {
        Some(Node::Text(t)) => t.push_str(text),
        _ => parent.children.push(Node::Text(text.to_owned())),
    }
    Ok(())
}

/// Escapes text for XML element content and attribute values (all five special characters).
pub fn escape(raw: &str) -> String {
    quick_xml::escape::escape(raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_inside_text_reads_as_the_whole_text() {
        let root = parse("<a><NameID>user@example.com<!---->.evil.example</NameID></a>").unwrap();
        let name_id = root.elements().next().unwrap();
        assert_eq!(name_id.text().unwrap(), "user@example.com.evil.example");
        // CDATA and references are part of the text too.
        let root = parse("<a>x<![CDATA[<y>]]>&amp;&#x41;<!-- c -->z</a>").unwrap();
        assert_eq!(root.text().unwrap(), "x<y>&Az");
    }

    #[test]
    fn an_element_inside_a_text_element_is_refused() {
        let root = parse("<NameID>a<b>c</b>d</NameID>").unwrap();
        assert!(root.text().is_err());
    }

    #[test]
    fn dtds_and_entities_are_refused_before_expansion() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert_eq!(parse(xxe), Err(SamlError::Dtd));
        let laughs = r#"<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"#;
        assert_eq!(parse(laughs), Err(SamlError::Dtd));
        assert_eq!(parse("<!DOCTYPE a><a/>"), Err(SamlError::Dtd));
        // Without a DTD an unknown entity is refused, in text and in attributes.
        assert_eq!(parse("<a>&x;</a>"), Err(SamlError::Entity));
        assert_eq!(parse(r#"<a b="&x;"/>"#), Err(SamlError::Entity));
    }

    #[test]
    fn size_depth_and_shape_are_bounded() {
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(parse(&deep), Err(SamlError::TooDeep));
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let big = format!("<a>{}</a>", "x".repeat(MAX_XML_BYTES));
        assert_eq!(parse(&big), Err(SamlError::TooLarge));
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(&many), Err(SamlError::TooLarge));
        assert!(matches!(parse("<a/><b/>"), Err(SamlError::Malformed(_))));
        assert!(matches!(
            parse("<a><?pi x?></a>"),
            Err(SamlError::Malformed(_))
        ));
        assert!(matches!(parse("<a></b>"), Err(SamlError::Malformed(_))));
        assert!(matches!(parse("<a>"), Err(SamlError::Malformed(_))));
        assert!(matches!(parse("<p:a/>"), Err(SamlError::Malformed(_))));
        assert!(matches!(
            parse(r#"<?xml version="1.0" encoding="ISO-8859-1"?><a/>"#),
            Err(SamlError::Malformed(_))
        ));
        assert!(matches!(
            parse(r#"<a b="1" b="2"/>"#),
            Err(SamlError::Malformed(_))
        ));
    }

    #[test]
    fn names_resolve_to_their_namespace() {
        let root =
            parse(r#"<p:A xmlns:p="urn:one" xmlns:q="urn:two" ID="x&amp;y"><q:B/><p:B/></p:A>"#)
                .unwrap();
        assert!(root.is("urn:one", "A"));
        assert_eq!(root.attr("ID"), Some("x&y"));
        assert_eq!(
            root.child("urn:two", "B").unwrap().map(|e| e.ns.clone()),
            Some(Some("urn:two".into()))
        );
        assert!(root.child("urn:one", "B").unwrap().is_some());
        assert!(root.child("urn:three", "B").unwrap().is_none());
        let two = parse(r#"<A xmlns:p="urn:one"><p:B/><p:B/></A>"#).unwrap();
        assert!(two.child("urn:one", "B").is_err());
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        let round = parse(&format!("<a v=\"{0}\">{0}</a>", escape("<&\"'>"))).unwrap();
        assert_eq!(round.attr("v"), Some("<&\"'>"));
        assert_eq!(round.text().unwrap(), "<&\"'>");
    }
}
