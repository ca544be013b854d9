//! JSON ⇄ Lua values, with Orthanc's conventions: `null` is `nil`; a table
//! whose keys are exactly 1..n is an array, any other table an object; and
//! (for `DumpJson` without `keepStrings`) strings that read as numbers become
//! numbers.

use mlua::{Lua, Table, Value as LuaValue};
use serde_json::{Map, Number, Value};

/// Deepest nesting converted (a table referring to itself must not loop).
const MAX_DEPTH: usize = 64;

/// A JSON value as a Lua value.
pub fn to_lua(lua: &Lua, value: &Value) -> mlua::Result<LuaValue> {
    Ok(match value {
        Value::Null => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => LuaValue::Integer(i),
            None => LuaValue::Number(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            LuaValue::Table(table)
        }
        Value::Object(map) => {
            let table = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                table.raw_set(k.as_str(), to_lua(lua, v)?)?;
            }
            LuaValue::Table(table)
        }
    })
}

/// A Lua value as JSON. With `keep_strings` false, numeric-looking strings
/// become numbers (Orthanc's `DumpJson(v)`); functions and other
/// non-data values are an error.
pub fn from_lua(value: &LuaValue, keep_strings: bool) -> mlua::Result<Value> {
    convert(value, keep_strings, 0)
}

fn convert(value: &LuaValue, keep_strings: bool, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(mlua::Error::runtime(
            "cannot convert to JSON: tables nested too deep (a cycle?)",
        ));
    }
    Ok(match value {
        LuaValue::Nil => Value::Null,
        LuaValue::Boolean(b) => Value::Bool(*b),
        LuaValue::Integer(i) => Value::from(*i),
        LuaValue::Number(f) => number(*f),
        LuaValue::String(s) => {
            let text = s.to_string_lossy();
            if keep_strings {
                Value::String(text)
            } else {
                numeric(&text).unwrap_or(Value::String(text))
            }
        }
        LuaValue::Table(t) => table(t, keep_strings, depth)?,
        other => {
            return Err(mlua::Error::runtime(format!(
                "cannot convert a Lua {} to JSON",
                other.type_name()
            )));
        }
    })
}

fn number(f: f64) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// A string that Lua's `tonumber` would read (decimal only), as a JSON number.
fn numeric(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty()
        || t.starts_with("0x")
        || t.starts_with("0X")
        || t.contains(['n', 'N', 'i', 'I'])
    {
        return None;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::from(i));
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite()).map(number)
}

fn table(t: &Table, keep_strings: bool, depth: usize) -> mlua::Result<Value> {
    let mut pairs = Vec::new();
    for pair in t.clone().pairs::<LuaValue, LuaValue>() {
        pairs.push(pair?);
    }
    let len = pairs.len();
    let is_array = len > 0
        && pairs
            .iter()
            .all(|(k, _)| matches!(k, LuaValue::Integer(i) if *i >= 1 && (*i as usize) <= len));
    if is_array {
        let mut items = vec![Value::Null; len];
        for (k, v) in &pairs {
            if let LuaValue::Integer(i) = k {
                items[*i as usize - 1] = convert(v, keep_strings, depth + 1)?;
            }
        }
        return Ok(Value::Array(items));
    }
    let mut map = Map::new();
    for (k, v) in &pairs {
        let key = match k {
            LuaValue::String(s) => s.to_string_lossy(),
            LuaValue::Integer(i) => i.to_string(),
            LuaValue::Number(f) => f.to_string(),
            LuaValue::Boolean(b) => b.to_string(),
            other => {
                return Err(mlua::Error::runtime(format!(
                    "cannot use a Lua {} as a JSON key",
                    other.type_name()
                )))
            }
        };
        map.insert(key, convert(v, keep_strings, depth + 1)?);
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_orthanc_conventions() {
        let lua = Lua::new();
        let doc = json!({"a": 1, "b": "2", "c": [1, 2.5, "x"], "d": {"e": true}, "f": null});
        let back = from_lua(&to_lua(&lua, &doc).unwrap(), true).unwrap();
        assert_eq!(
            back,
            json!({"a": 1, "b": "2", "c": [1, 2.5, "x"], "d": {"e": true}})
        );
        let dumped = from_lua(&to_lua(&lua, &doc).unwrap(), false).unwrap();
        assert_eq!(
            dumped["b"],
            json!(2),
            "numeric strings become numbers without keepStrings"
        );
        let t: LuaValue = lua.load("return {[1]='a', [3]='c'}").eval().unwrap();
        assert_eq!(from_lua(&t, true).unwrap(), json!({"1": "a", "3": "c"}));
        let f: LuaValue = lua.load("return 3.0").eval().unwrap();
        assert_eq!(from_lua(&f, true).unwrap(), json!(3));
        let cyclic: LuaValue = lua.load("local t = {} t.t = t return t").eval().unwrap();
        assert!(from_lua(&cyclic, true).is_err());
    }
}
