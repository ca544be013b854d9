//! The general-purpose functions Orthanc gives scripts: `print` (to the log
//! and to the answer of `/tools/execute-script`), `PrintRecursive`,
//! `ParseJson`, `DumpJson`, `GetOrthancConfiguration`, `GenerateDicomUid`.

use mlua::{Function, Lua, MultiValue, Value as LuaValue};
use serde_json::Value;

use super::engine::Printed;
use super::json;

/// Writes one line of script output: the log, and the execute-script answer.
pub(super) fn print_line(lua: &Lua, line: &str) {
    tracing::info!(target: "lua", "Lua says: {line}");
    if let Some(mut p) = lua.app_data_mut::<Printed>() {
        p.0.push_str(line);
        p.0.push('\n');
    }
}

fn to_text(tostring: &Function, v: LuaValue) -> mlua::Result<String> {
    let s: mlua::String = tostring.call(v)?;
    Ok(s.to_string_lossy())
}

pub(super) fn register(lua: &Lua, configuration: Value) -> mlua::Result<()> {
    let globals = lua.globals();
    let tostring: Function = globals.get("tostring")?;

    let ts = tostring.clone();
    globals.set(
        "print",
        lua.create_function(move |lua, args: MultiValue| {
            let parts = args
                .into_iter()
                .map(|v| to_text(&ts, v))
                .collect::<mlua::Result<Vec<_>>>()?;
            print_line(lua, &parts.join(", "));
            Ok(())
        })?,
    )?;

    let ts = tostring.clone();
    globals.set(
        "PrintRecursive",
        lua.create_function(move |lua, v: LuaValue| {
            let mut lines = Vec::new();
            recursive(&ts, &v, "", &mut lines, 0)?;
            for line in lines {
                print_line(lua, &line);
            }
            Ok(())
        })?,
    )?;

    globals.set(
        "ParseJson",
        lua.create_function(|lua, text: mlua::String| {
            let value: Value = serde_json::from_slice(&text.as_bytes())
                .map_err(|e| mlua::Error::runtime(format!("ParseJson: not JSON: {e}")))?;
            json::to_lua(lua, &value)
        })?,
    )?;

    globals.set(
        "DumpJson",
        lua.create_function(|_, (v, keep_strings): (LuaValue, Option<bool>)| {
            let value = json::from_lua(&v, keep_strings.unwrap_or(false))?;
            Ok(value.to_string())
        })?,
    )?;

    globals.set(
        "GetOrthancConfiguration",
        lua.create_function(move |lua, ()| json::to_lua(lua, &configuration))?,
    )?;

    globals.set(
        "GenerateDicomUid",
        lua.create_function(|_, _level: Option<String>| Ok(generate_uid()))?,
    )?;
    Ok(())
}

/// Orthanc's `PrintRecursive` layout: `table`, then `\t[key], type, value`.
fn recursive(
    tostring: &Function,
    v: &LuaValue,
    indent: &str,
    out: &mut Vec<String>,
    depth: usize,
) -> mlua::Result<()> {
    if out.len() >= 1000 || depth > 32 {
        out.push("ERROR: Item limit reached.".into());
        return Ok(());
    }
    let prefix = |s: String| {
        if indent.is_empty() {
            s
        } else {
            format!("{indent}, {s}")
        }
    };
    match v {
        LuaValue::Table(t) => {
            out.push(prefix("table".into()));
            for pair in t.clone().pairs::<LuaValue, LuaValue>() {
                let (k, value) = pair?;
                let key = to_text(tostring, k)?;
                recursive(
                    tostring,
                    &value,
                    &format!("{indent}\t[{key}]"),
                    out,
                    depth + 1,
                )?;
            }
        }
        other => {
            let text = to_text(tostring, other.clone())?;
            // Lua's `type()`: integers and floats are both "number".
            let kind = match other {
                LuaValue::Integer(_) | LuaValue::Number(_) => "number",
                v => v.type_name(),
            };
            out.push(prefix(format!("{kind}, {text}")));
        }
    }
    Ok(())
}

/// A new UID under the `2.25` arc (a random 128-bit number, PS3.5 B.2).
pub(super) fn generate_uid() -> String {
    crate::dicom::modify::new_uid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_and_print_recursive_follow_orthanc() {
        let lua = Lua::new();
        lua.set_app_data(Printed(String::new()));
        register(&lua, serde_json::json!({"Name": "x"})).unwrap();
        lua.load(r#"print(42) print("a", 1, nil, true) PrintRecursive({x=1}) print(GetOrthancConfiguration().Name)
                    print(DumpJson({a="12"}, true)) print(DumpJson({1, 2})) print(ParseJson('{"k": [1]}').k[1])"#)
            .exec()
            .unwrap();
        let printed = lua.app_data_ref::<Printed>().unwrap().0.clone();
        assert_eq!(
            printed,
            "42\na, 1, nil, true\ntable\n\t[x], number, 1\nx\n{\"a\":\"12\"}\n[1,2]\n1\n"
        );
        let uid = generate_uid();
        assert!(uid.starts_with("2.25.") && uid.len() <= 64, "{uid}");
    }
}
