//! A `kind: List` read item by item.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};

use super::super::SnapshotError;

/// A List document read item by item: each item of `items` is parsed into its own value tree,
/// handed to `on_item` and dropped, so a `kubectl get -o json` of a large cluster never exists as
/// one tree (ten times the size of its text). Other fields are skipped unparsed.
pub(super) struct ListItems<'c, V, F> {
    pub(super) on_item: &'c mut F,
    /// The reader's error that stopped the walk (strict mode), to return as it is.
    pub(super) stopped: &'c mut Option<SnapshotError>,
    pub(super) item: PhantomData<V>,
}

impl<'de, V, F> DeserializeSeed<'de> for ListItems<'_, V, F>
where
    V: DeserializeOwned,
    F: FnMut(V) -> Result<(), SnapshotError>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, V, F> Visitor<'de> for ListItems<'_, V, F>
where
    V: DeserializeOwned,
    F: FnMut(V) -> Result<(), SnapshotError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a List object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                map.next_value_seed(ItemSequence {
                    on_item: &mut *self.on_item,
                    stopped: &mut *self.stopped,
                    item: PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `items` array of a [`ListItems`].
pub(super) struct ItemSequence<'c, V, F> {
    pub(super) on_item: &'c mut F,
    pub(super) stopped: &'c mut Option<SnapshotError>,
    pub(super) item: PhantomData<V>,
}

impl<'de, V, F> DeserializeSeed<'de> for ItemSequence<'_, V, F>
where
    V: DeserializeOwned,
    F: FnMut(V) -> Result<(), SnapshotError>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, V, F> Visitor<'de> for ItemSequence<'_, V, F>
where
    V: DeserializeOwned,
    F: FnMut(V) -> Result<(), SnapshotError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects in `items`")
    }

    /// `items: null` is an empty List.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<V>()? {
            if let Err(error) = (self.on_item)(item) {
                *self.stopped = Some(error);
                return Err(de::Error::custom("reading stopped"));
            }
        }
        Ok(())
    }
}
