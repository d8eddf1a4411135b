//! Compiling `[[prefix_list]]` and `[[policy]]` tables of the configuration into a
//! [`PolicySet`], with the configuration's checks and error messages.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use toml::Spanned;

use super::*;
use crate::config::raw::{RawConfig, RawMatch, RawPrefixEntry, RawTerm};
use crate::config::{did_you_mean, Cx, ErrorKind, Res, MAX_PREPEND};
use crate::prefix::Prefix;

impl Cx<'_> {
    pub(crate) fn policies(&self, raw: &RawConfig) -> Res<PolicySet> {
        let mut set = PolicySet::new();
        // Name -> (list, its index in the file).
        let mut lists: HashMap<String, (Arc<PrefixList>, usize)> = HashMap::new();
        for (i, table) in raw.prefix_list.iter().enumerate() {
            let path = format!("prefix_list[{i}]");
            let l = table.get_ref();
            let name_raw = self.required(table, &l.name, format!("{path}.name"))?;
            let name = self.name(name_raw, &format!("{path}.name"), "prefix list")?;
            if let Some((_, first)) = lists.get(&name) {
                let first_span = raw.prefix_list[*first].get_ref().name.as_ref().expect("checked");
                return Err(self.err(
                    name_raw,
                    format!("{path}.name"),
                    ErrorKind::Conflict(format!(
                        "duplicate prefix list name {name:?}: already prefix_list[{first}] (line {})",
                        self.line_of(first_span)
                    )),
                ));
            }
            let key = format!("{path}.entries");
            let entries_raw = self.required(table, &l.entries, key.clone())?;
            if entries_raw.get_ref().is_empty() {
                return Err(self.value_err(entries_raw, key, "is empty: a prefix list needs at least one entry"));
            }
            let mut entries: Vec<PrefixEntry> = Vec::new();
            for (j, e) in entries_raw.get_ref().iter().enumerate() {
                let entry_path = format!("{key}[{j}]");
                let entry = self.prefix_entry(e, &entry_path)?;
                if entries.contains(&entry) {
                    return Err(self.err(e, entry_path, ErrorKind::Conflict(format!("{entry} is listed twice"))));
                }
                entries.push(entry);
            }
            let list = Arc::new(PrefixList { name: name.clone(), entries });
            set.insert_prefix_list(list.clone()).expect("prefix list names are unique");
            lists.insert(name, (list, i));
        }

        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, table) in raw.policy.iter().enumerate() {
            let path = format!("policy[{i}]");
            let p = table.get_ref();
            let name_key = format!("{path}.name");
            let name_raw = self.required(table, &p.name, name_key.clone())?;
            let name = self.name(name_raw, &name_key, "policy")?;
            if BUILT_IN.contains(&name.as_str()) {
                return Err(self.err(
                    name_raw,
                    name_key,
                    ErrorKind::Conflict(format!("{name:?} is a built-in policy; pick another name")),
                ));
            }
            if let Some(&first) = seen.get(&name) {
                let first_span = raw.policy[first].get_ref().name.as_ref().expect("checked");
                return Err(self.err(
                    name_raw,
                    name_key,
                    ErrorKind::Conflict(format!(
                        "duplicate policy name {name:?}: already policy[{first}] (line {})",
                        self.line_of(first_span)
                    )),
                ));
            }
            let default = match &p.default {
                Some(v) => v.get_ref().parse().map_err(|e: String| self.value_err(v, format!("{path}.default"), e))?,
                None => Verdict::Reject,
            };
            let mut policy = Policy::new(name.clone(), default);
            for (t, term_table) in p.term.iter().enumerate() {
                let term_path = format!("{path}.term[{t}]");
                let term = self.term(term_table, &term_path, &lists)?;
                if let Some(j) = policy.terms.iter().position(|earlier| earlier.name == term.name) {
                    let first_span = p.term[j].get_ref().name.as_ref().expect("checked");
                    return Err(self.err(
                        term_table.get_ref().name.as_ref().expect("checked"),
                        format!("{term_path}.name"),
                        ErrorKind::Conflict(format!(
                            "duplicate term name {:?}: already {path}.term[{j}] (line {})",
                            term.name,
                            self.line_of(first_span)
                        )),
                    ));
                }
                // A term that matches everything and decides hides every later one.
                if let Some(j) = policy.terms.iter().position(|e| e.matches.is_empty() && e.action != TermAction::Next)
                {
                    let earlier = &policy.terms[j];
                    return Err(self.err(
                        term_table,
                        term_path,
                        ErrorKind::Conflict(format!(
                            "is never reached: {path}.term[{j}] ({:?}, line {}) matches every route and ends with {}",
                            earlier.name,
                            self.line_of(&p.term[j]),
                            earlier.action
                        )),
                    ));
                }
                policy.terms.push(term);
            }
            seen.insert(name, i);
            set.insert(policy).expect("policy names are unique and not built-in");
        }
        Ok(set)
    }

    pub(crate) fn prefix_entry(&self, table: &Spanned<RawPrefixEntry>, path: &str) -> Res<PrefixEntry> {
        let e = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let prefix = self.prefix(self.required(table, &e.prefix, key("prefix"))?, &key("prefix"))?;
        let len = i64::from(prefix.prefix_len());
        let max = if matches!(prefix, Prefix::V4(_)) { 32 } else { 128 };
        let length = |v: &Spanned<i64>, k: &str| -> Res<u8> {
            let x = *v.get_ref();
            if (len..=max).contains(&x) {
                Ok(x as u8)
            } else {
                Err(self.value_err(v, key(k), format!("{x} is not a valid {k} for {prefix}: use {len}..={max}")))
            }
        };
        let ge = e.ge.as_ref().map(|v| length(v, "ge")).transpose()?;
        let le = e.le.as_ref().map(|v| length(v, "le")).transpose()?;
        if let (Some(ge), Some(le), Some(v)) = (ge, le, &e.le) {
            if le < ge {
                return Err(self.err(v, key("le"), ErrorKind::Conflict(format!("{le} is less than ge ({ge})"))));
            }
        }
        Ok(PrefixEntry { prefix, ge, le })
    }

    pub(crate) fn term(
        &self,
        table: &Spanned<RawTerm>,
        path: &str,
        lists: &HashMap<String, (Arc<PrefixList>, usize)>,
    ) -> Res<Term> {
        let t = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let name = self.name(self.required(table, &t.name, key("name"))?, &key("name"), "term")?;
        let matches = match &t.conditions {
            Some(m) => self.conditions(m, &key("match"), lists)?,
            None => Match::default(),
        };
        let action = match &t.action {
            Some(v) => v.get_ref().parse().map_err(|e: String| self.value_err(v, key("action"), e))?,
            None => TermAction::Next,
        };

        let mut actions = Actions::default();
        if let Some(v) = &t.set_local_pref {
            actions.set_local_pref = Some(self.value32(v, &key("set_local_pref"), "LOCAL_PREF")?);
        }
        if let Some(v) = &t.set_med {
            actions.set_med = Some(self.value32(v, &key("set_med"), "MED")?);
        }
        if let Some(v) = &t.set_next_hop {
            actions.set_next_hop = Some(match v.get_ref().as_str() {
                "self" => SetNextHop::SelfAddress,
                _ => SetNextHop::Address(self.next_hop(v, &key("set_next_hop"), "\"self\" or ")?),
            });
        }
        actions.add_community = self.communities(&t.add_community, &key("add_community"))?;
        actions.remove_community = self.communities(&t.remove_community, &key("remove_community"))?;
        self.no_overlap(
            &t.remove_community,
            &key("remove_community"),
            &actions.remove_community,
            &actions.add_community,
            "add_community",
        )?;
        actions.add_large_community = self.large_communities(&t.add_large_community, &key("add_large_community"))?;
        actions.remove_large_community =
            self.large_communities(&t.remove_large_community, &key("remove_large_community"))?;
        self.no_overlap(
            &t.remove_large_community,
            &key("remove_large_community"),
            &actions.remove_large_community,
            &actions.add_large_community,
            "add_large_community",
        )?;
        if let Some(v) = &t.prepend {
            let max = i64::from(MAX_PREPEND);
            let count = self.int(v, &key("prepend"), 1..max + 1, "prepend count")? as u8;
            let asn = t.prepend_asn.as_ref().map(|v| self.asn(v, &key("prepend_asn"))).transpose()?;
            actions.prepend = Some(Prepend { count, asn });
        } else if let Some(v) = &t.prepend_asn {
            return Err(self.err(
                v,
                key("prepend_asn"),
                ErrorKind::Conflict("has no effect without prepend (how many times to put it in front)".into()),
            ));
        }

        // Every key must do something.
        if action == TermAction::Reject && !actions.is_empty() {
            let spans = [
                ("set_local_pref", t.set_local_pref.as_ref().map(|v| v.span().start)),
                ("set_med", t.set_med.as_ref().map(|v| v.span().start)),
                ("set_next_hop", t.set_next_hop.as_ref().map(|v| v.span().start)),
                ("add_community", t.add_community.as_ref().map(|v| v.span().start)),
                ("remove_community", t.remove_community.as_ref().map(|v| v.span().start)),
                ("add_large_community", t.add_large_community.as_ref().map(|v| v.span().start)),
                ("remove_large_community", t.remove_large_community.as_ref().map(|v| v.span().start)),
                ("prepend", t.prepend.as_ref().map(|v| v.span().start)),
            ];
            let (k, at) = spans
                .into_iter()
                .filter_map(|(k, at)| Some((k, at?)))
                .min_by_key(|&(_, at)| at)
                .expect("some action is set");
            return Err(self.err_at(
                at,
                key(k),
                ErrorKind::Conflict("has no effect: the term rejects the route".into()),
            ));
        }
        if action == TermAction::Next && actions.is_empty() {
            let message = "the term does nothing: give it action = \"accept\" or \"reject\", \
                           or a set_*, add_*, remove_* or prepend key";
            return Err(match &t.action {
                Some(v) => self.err(v, key("action"), ErrorKind::Conflict(message.into())),
                None => self.err(table, path, ErrorKind::Conflict(message.into())),
            });
        }
        Ok(Term { name, matches, actions, action })
    }

    pub(crate) fn conditions(
        &self,
        table: &Spanned<RawMatch>,
        path: &str,
        lists: &HashMap<String, (Arc<PrefixList>, usize)>,
    ) -> Res<Match> {
        let m = table.get_ref();
        let key = |k: &str| format!("{path}.{k}");
        let mut out = Match::default();
        if let Some(v) = &m.prefix_list {
            let name = v.get_ref();
            match lists.get(name) {
                Some((list, _)) => out.prefix_list = Some(list.clone()),
                None => {
                    let mut known: Vec<String> = lists.keys().cloned().collect();
                    known.sort();
                    let hint = match did_you_mean(name, &known) {
                        Some(s) => format!("; did you mean {s:?}?"),
                        None if known.is_empty() => " (the file has none)".to_string(),
                        None => format!(" (there are: {})", known.join(", ")),
                    };
                    return Err(self.value_err(
                        v,
                        key("prefix_list"),
                        format!("no [[prefix_list]] named {name:?}{hint}"),
                    ));
                }
            }
        }
        out.neighbor = self.list(&m.neighbor, &key("neighbor"), "address or prefix", |v, k| {
            if v.get_ref().contains('/') {
                return self.ipnet(v, k);
            }
            match v.get_ref().parse::<IpAddr>() {
                Ok(a) => Ok(IpNet::from(a.to_canonical())),
                Err(_) => Err(self.value_err(v, k, format!("{:?} is not an IP address or prefix", v.get_ref()))),
            }
        })?;
        out.community = self.communities(&m.community, &key("community"))?;
        out.large_community = self.large_communities(&m.large_community, &key("large_community"))?;
        out.as_path_contains = self.asns(&m.as_path_contains, &key("as_path_contains"))?;
        out.origin_as = self.asns(&m.origin_as, &key("origin_as"))?;
        if let Some(v) = &m.as_path_length_min {
            out.as_path_length_min = Some(self.value32(v, &key("as_path_length_min"), "AS_PATH length")?);
        }
        if let Some(v) = &m.as_path_length_max {
            let max = self.value32(v, &key("as_path_length_max"), "AS_PATH length")?;
            if let Some(min) = out.as_path_length_min.filter(|&min| max < min) {
                return Err(self.err(
                    v,
                    key("as_path_length_max"),
                    ErrorKind::Conflict(format!("{max} is less than as_path_length_min ({min})")),
                ));
            }
            out.as_path_length_max = Some(max);
        }
        out.source = self.list(&m.source, &key("source"), "route source", |v, k| {
            v.get_ref().parse::<RouteSource>().map_err(|e| self.value_err(v, k, e))
        })?;
        Ok(out)
    }
}
