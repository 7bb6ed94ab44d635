"""The caches of LOAD_GLOBAL, LOAD_ATTR, STORE_ATTR and LOAD_METHOD sites, and the probes that read them.

A site's cache lives in the compiled module's data. Where the interpreter had specialised the site, the
compiled code probes it inline (compiler/emitters/names.py); at a site it had not (not run yet, or
threshold 0) the code only calls the support function (support.py), which probes the same cache out of
line and, on a miss, does the generic operation and fills the cache: a call instead of ~50 LLVM
instructions per site, for code that may never run hot. Each probe takes ``bail_if(condition)``, which
leaves the probe for the miss path when the condition holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from llvmlite import ir

from ..abi.cpython311 import (DICT, DICT_KEYS, DICT_KEYS_UNICODE, GC_NEXT, HEAPTYPE, MANAGED_DICT, MANAGED_VALUES,
                              TPFLAGS_TYPE_SUBCLASS, TYPE, UNICODE_ENTRY, VALUES_ORDER_COUNT, Field, Struct)
from ..compiler.builder import I8, I32, I64, NULL, PTR, Builder, i32, i64

BailIf = Callable[[ir.Value], None]

# A LOAD_GLOBAL site's cache: what the interpreter's inline cache holds (keys versions, entry index),
# refilled by pyjion_load_global_cached when its guards fail, as the interpreter respecialises.
# ``refreshes`` caps the refills (a site whose dicts keep changing stays generic). ``form``:
# GLOBAL_IN_MODULE (the entry is the globals') or GLOBAL_IN_BUILTINS (the builtins' entry; the globals'
# version says the name is still not global). Version 0: empty.
GLOBAL_CACHE = Struct("pyjion global cache", 24, globals_version=(0, "i32"), builtins_version=(4, "i32"),
                      index=(8, "i64"), refreshes=(16, "i64"))
GLOBAL_IN_MODULE, GLOBAL_IN_BUILTINS = 0, 1
MAX_GLOBAL_REFRESHES = 1000
# A LOAD_ATTR or STORE_ATTR site's cache of where instances keep the attribute: ATTR_CACHE_ENTRIES words
# (a type version tag in the low half; in the high half the attribute's index in the instances' values,
# with ATTR_IN_SLOT set the byte offset of its __slots__ entry, or with ATTR_IN_DICT set the index of its
# entry in the instance's own dict, a hint checked on use as LOAD_ATTR_WITH_HINT does; version 0:
# empty), then the number of entries filled so far, which caps refilling (a site that meets ever new
# types stays generic). The interpreter's LOAD_ATTR_INSTANCE_VALUE, LOAD_ATTR_SLOT and
# LOAD_ATTR_WITH_HINT cache one type; a method of a base class sees the instances of every subclass
# (richards' Task.fn).
ATTR_CACHE_ENTRIES = 4
MAX_ATTR_FILLS = 64
ATTR_IN_SLOT = 1 << 31
ATTR_IN_DICT = 1 << 30
ATTR_IN_VALUES = 0
ATTR_PLACES = (ATTR_IN_VALUES, ATTR_IN_SLOT, ATTR_IN_DICT)
# Global holding the address of CPython's hidden PEP 509 counter (abi.dict_version_counter; NULL: not
# found), which a store into a dict must advance.
DICT_VERSION_COUNTER = "pyjion_dict_version_counter"
# A LOAD_METHOD site's cache of methods found on the type: ATTR_CACHE_ENTRIES pairs of words (the type's
# version tag in the low half and, for a type with managed instance values, the version of its
# instances' shared keys, which do not hold the name, in the high half (0: a type without instance
# dicts); the method, borrowed from the type's dict), then the number filled so far.
METHOD_CACHE_WORDS = 2 * ATTR_CACHE_ENTRIES + 1
# An attribute of a class itself: the class's version tag, then the attribute, borrowed from the
# class's dicts. A LOAD_METHOD site specialised to LOAD_METHOD_CLASS has only this; every other
# LOAD_ATTR and LOAD_METHOD site has one after its instance entries (at ATTR_CLASS_ENTRY and
# METHOD_CLASS_ENTRY), which the support
# functions fill where the metaclass is exactly type (its getattro type_getattro, and no attribute of the
# name on type itself) and the class's own attribute is a plain value, a function or a staticmethod
# (type_getattro gives the value, the function or the staticmethod's callable: held by the class's dicts
# as long as its version tag holds; 3.11 specialises none of these for LOAD_ATTR, nor a staticmethod
# for LOAD_METHOD).
CLASS_ATTR_WORDS = 2
ATTR_CLASS_ENTRY = ATTR_CACHE_ENTRIES + 1
METHOD_CLASS_ENTRY = METHOD_CACHE_WORDS
_LIKELY = 1000  # branch weight of a first cache entry hit against a miss


def bail_to(b: Builder, miss: ir.Block) -> BailIf:
    """A ``bail_if`` that branches to ``miss``."""
    def bail_if(condition: ir.Value) -> None:
        passed = b.block("cache_hit")
        b.ir.cbranch(condition, miss, passed)
        b.position(passed)
    return bail_if


def bail_unless_version(b: Builder, bail_if: BailIf, obj: ir.Value, field: Field, version: ir.Value) -> None:
    """A type's version tag or dict keys' version still the one cached."""
    bail_if(b.ir.icmp_unsigned("!=", b.load(obj, field), version))


def keys_with_version(b: Builder, bail_if: BailIf, mapping: ir.Value, version: ir.Value) -> ir.Value:
    """The keys of ``mapping``, an exact dict whose keys still have ``version``."""
    bail_if(b.ir.not_(b.is_type(mapping, "PyDict_Type")))
    keys = b.load(mapping, DICT.ma_keys)
    bail_unless_version(b, bail_if, keys, DICT_KEYS.dk_version, version)
    return keys


def unicode_entry(b: Builder, keys: ir.Value, index: ir.Value) -> ir.Value:
    """Address of entry ``index`` of string-keyed dict keys (a PyDictUnicodeEntry)."""
    r = b.ir
    index_bytes = r.shl(i64(1), r.zext(b.load(keys, DICT_KEYS.dk_log2_index_bytes), I64))
    offset = r.add(r.mul(index, i64(UNICODE_ENTRY.size)), i64(DICT_KEYS.dk_indices.offset))
    return r.gep(keys, [r.add(index_bytes, offset)], source_etype=I8)


def entry_value(b: Builder, bail_if: BailIf, keys: ir.Value, index: ir.Value) -> ir.Value:
    """New reference to the value of entry ``index`` of string-keyed dict keys (bail if it was deleted)."""
    value = b.load(unicode_entry(b, keys, index), UNICODE_ENTRY.me_value)
    bail_if(b.is_null(value))
    return b.new_ref(value)


def cached_global(b: Builder, bail_if: BailIf, globals_: ir.Value, builtins: ir.Value, cache: ir.Value,
                  in_builtins: bool) -> ir.Value:
    """New reference to the global a GLOBAL_CACHE of the form ``in_builtins`` says holds."""
    globals_version = b.load(cache, GLOBAL_CACHE.globals_version)
    bail_if(b.ir.icmp_unsigned("==", globals_version, i32(0)))  # empty: would match unversioned keys
    keys = keys_with_version(b, bail_if, globals_, globals_version)
    if in_builtins:  # the globals' keys unchanged: the name is still not global
        keys = keys_with_version(b, bail_if, builtins, b.load(cache, GLOBAL_CACHE.builtins_version))
    return entry_value(b, bail_if, keys, b.load(cache, GLOBAL_CACHE.index))


@dataclass
class AttributeSlot:
    """Where an object keeps an attribute: the address of its object pointer, and the instance values
    or the instance dict holding it (a NULL value where it may be the other place or a __slots__ entry;
    None where it cannot be in that place)."""

    address: ir.Value
    values: ir.Value | None
    dict: ir.Value | None


def _attribute_in_place(b: Builder, bail_if: BailIf, owner: ir.Value, where: ir.Value, place: int, name: ir.Value,
                        store: bool) -> AttributeSlot:
    """The AttributeSlot of an entry whose ``where`` is in ``place`` (an ATTR_IN_* flag)."""
    r = b.ir
    if place == ATTR_IN_SLOT:
        return AttributeSlot(r.gep(owner, [r.xor(where, i64(ATTR_IN_SLOT))], source_etype=I8), None, None)
    if place == ATTR_IN_VALUES:
        values = b.load(owner, MANAGED_VALUES)
        bail_if(b.is_null(values))
        return AttributeSlot(b.slot(values, where), values, None)
    instance_dict = b.load(owner, MANAGED_DICT)
    bail_if(b.is_null(instance_dict))
    keys = b.load(instance_dict, DICT.ma_keys)
    bail_if(r.icmp_unsigned("!=", b.load(keys, DICT_KEYS.dk_kind), ir.Constant(I8, DICT_KEYS_UNICODE)))
    index = r.xor(where, i64(ATTR_IN_DICT))
    bail_if(r.icmp_unsigned(">=", index, b.load(keys, DICT_KEYS.dk_nentries)))
    entry = unicode_entry(b, keys, index)
    bail_if(r.icmp_unsigned("!=", b.load(entry, UNICODE_ENTRY.me_key), name))
    if store:
        bail_if(r.icmp_unsigned("==", b.load(instance_dict, GC_NEXT), i64(0)))
        bail_if(b.is_null(r.load(b.global_var(DICT_VERSION_COUNTER), typ=PTR)))
    # A combined table's live entry has a value (a deleted one loses its key too).
    return AttributeSlot(b.addr(entry, UNICODE_ENTRY.me_value), None, instance_dict)


def _probe(b: Builder, version: ir.Value, entry: Callable[[int], tuple[ir.Value, tuple[ir.Value, ...]]],
           missing: tuple[ir.Value, ...]) -> tuple[ir.Value, ...]:
    """The values of the cache entry whose type version tag is ``version`` (``missing`` if none), where
    ``entry(k)`` loads entry k's tag and values. The first entry, where the interpreter's specialisation
    is seeded and a monomorphic site finds its type, is tested alone; the others only when it misses."""
    r = b.ir
    tag, hit_values = entry(0)
    start = r.block
    others, probed = b.block("cache_other_entries"), b.block("cache_probed")
    r.cbranch(r.icmp_unsigned("==", tag, version), probed, others).set_weights([_LIKELY, 1])
    b.position(others)
    found = missing
    for k in reversed(range(1, ATTR_CACHE_ENTRIES)):
        tag, values = entry(k)
        hit = r.icmp_unsigned("==", tag, version)
        found = tuple(r.select(hit, value, other) for value, other in zip(values, found))
    others_end = r.block
    r.branch(probed)
    return tuple(b.merge(probed, (first, start), (other, others_end)) for first, other in zip(hit_values, found))


def attribute_slot(b: Builder, bail_if: BailIf, owner: ir.Value, cache: ir.Value, name: ir.Value,
                   store: bool = False, places: tuple[int, ...] = ATTR_PLACES) -> AttributeSlot:
    """Where the owner keeps the attribute ``name`` by the ATTR_CACHE entry for its type, handling the
    ``places`` given (bail for an entry of another). In the instance's dict, the hinted entry must hold
    ``name``; to ``store`` there, the dict must be tracked by the garbage collector (an untracked one may
    need tracking for the new value, which the generic path does) and the dict version counter known.

    Compiled code handles only the place the interpreter specialised the site to, the support functions
    all three: each place is ~10 LLVM instructions and two guards per site, for a type that seldom
    differs."""
    r = b.ir
    version = b.load(b.type_of(owner), TYPE.tp_version_tag)
    bail_if(r.icmp_unsigned("==", version, i32(0)))  # no version: matches only empty entries

    def entry(k: int) -> tuple[ir.Value, tuple[ir.Value, ...]]:
        word = r.load(r.gep(cache, [i64(k)], source_etype=I64), typ=I64)
        return r.trunc(word, I32), (r.lshr(word, i64(32)),)

    where, = _probe(b, version, entry, (i64(-1),))
    # The bits from ATTR_IN_DICT up: the place of an entry, all set for no entry (where -1).
    place = r.and_(where, i64(-ATTR_IN_DICT))
    if len(places) == 1:
        bail_if(r.icmp_unsigned("!=", place, i64(places[0])))
        return _attribute_in_place(b, bail_if, owner, where, places[0], name, store)
    bail_if(r.icmp_signed("<", where, i64(0)))
    found = b.block("attribute_found")
    blocks = [b.block("attribute_in_place") for _ in places]
    switch = r.switch(place, blocks[0])
    for value, block in zip(places[1:], blocks[1:]):
        switch.add_case(i64(value), block)
    arms = []
    for value, block in zip(places, blocks):
        b.position(block)
        arms.append((_attribute_in_place(b, bail_if, owner, where, value, name, store), r.block))
        r.branch(found)

    def merged(field: str) -> ir.Value:
        return b.merge(found, *((getattr(slot, field) or NULL, end) for slot, end in arms))

    return AttributeSlot(merged("address"), merged("values"), merged("dict"))


def cached_attribute(b: Builder, bail_if: BailIf, owner: ir.Value, cache: ir.Value, name: ir.Value,
                     places: tuple[int, ...] = ATTR_PLACES) -> ir.Value:
    """New reference to the attribute an ATTR_CACHE entry says where to find (bail if it is unset)."""
    value = b.ir.load(attribute_slot(b, bail_if, owner, cache, name, places=places).address, typ=PTR)
    bail_if(b.is_null(value))
    return b.new_ref(value)


def store_attribute(b: Builder, slot: AttributeSlot, value: ir.Value, borrowed_owner: ir.Value | None = None) -> None:
    """Store ``value`` (the reference is taken over) at the place ``attribute_slot(..., store=True)``
    found; an attribute the object did not have yet joins its instance values' insertion order (the
    order vars() shows); a dict's entry changed gives the dict the next version (PEP 509), as
    STORE_ATTR_WITH_HINT does. ``borrowed_owner``: the object, when the caller holds no reference to
    it; one is held while the old value is deallocated."""
    r = b.ir
    old = r.load(slot.address, typ=PTR)
    r.store(value, slot.address)
    added = b.is_null(old)
    if slot.values is not None:
        with b.if_then(r.and_(added, r.not_(b.is_null(slot.values)))):
            _append_to_insertion_order(b, slot)
    if slot.dict is not None:
        with b.if_then(r.not_(b.is_null(slot.dict))):
            counter = r.load(b.global_var(DICT_VERSION_COUNTER), typ=PTR)
            next_version = r.add(r.load(counter, typ=I64), i64(1))
            r.store(next_version, counter)
            r.store(next_version, b.addr(slot.dict, DICT.ma_version_tag))
    if borrowed_owner is None:
        b.xdecref(old)
    else:
        b.xdecref_holding(old, borrowed_owner)


def _append_to_insertion_order(b: Builder, slot: AttributeSlot) -> None:
    r = b.ir
    count = b.addr(slot.values, VALUES_ORDER_COUNT)
    order = r.add(r.load(count, typ=I8), ir.Constant(I8, 1))
    index = r.ashr(r.sub(r.ptrtoint(slot.address, I64), r.ptrtoint(slot.values, I64)), i64(3))
    r.store(r.trunc(index, I8), r.gep(count, [r.sub(i64(0), r.zext(order, I64))], source_etype=I8))
    r.store(order, count)


def cached_method(b: Builder, bail_if: BailIf, owner: ir.Value, cache: ir.Value) -> ir.Value:
    """New reference to the method a METHOD_CACHE entry for the owner's type holds."""
    r = b.ir
    tp = b.type_of(owner)
    version = b.load(tp, TYPE.tp_version_tag)
    bail_if(r.icmp_unsigned("==", version, i32(0)))  # no version: matches only empty entries

    def entry(k: int) -> tuple[ir.Value, tuple[ir.Value, ...]]:
        versions = r.load(r.gep(cache, [i64(2 * k)], source_etype=I64), typ=I64)
        return r.trunc(versions, I32), (versions, r.load(r.gep(cache, [i64(2 * k + 1)], source_etype=I64), typ=I64))

    versions, method = _probe(b, version, entry, (i64(0), i64(0)))
    bail_if(r.icmp_unsigned("==", method, i64(0)))
    keys_version = r.trunc(r.lshr(versions, i64(32)), I32)
    # Managed instance values: no instance attribute shadows the method, as LOAD_METHOD_WITH_VALUES checks.
    with b.if_then(r.icmp_unsigned("!=", keys_version, i32(0))):
        bail_if(r.icmp_unsigned("!=", b.load(owner, MANAGED_DICT), NULL))
        bail_unless_version(b, bail_if, b.load(tp, HEAPTYPE.ht_cached_keys), DICT_KEYS.dk_version, keys_version)
    # The method is owned by the type's dict, which cannot change while the version tag holds.
    return b.new_ref(r.inttoptr(method, PTR))


def cached_class_attribute(b: Builder, bail_if: BailIf, owner: ir.Value, cache: ir.Value) -> ir.Value:
    """New reference to the attribute of the class ``owner`` a class entry (CLASS_ATTR_WORDS) holds: the
    class's own version tag (its attributes), not its metaclass's."""
    r = b.ir
    is_class = r.and_(b.load(b.type_of(owner), TYPE.tp_flags), i64(TPFLAGS_TYPE_SUBCLASS))
    bail_if(r.icmp_unsigned("==", is_class, i64(0)))
    version = b.load(owner, TYPE.tp_version_tag)
    bail_if(r.icmp_unsigned("==", version, i32(0)))  # no version: matches only an empty cache
    bail_if(r.icmp_unsigned("!=", r.trunc(r.load(cache, typ=I64), I32), version))
    return b.new_ref(r.load(r.gep(cache, [i64(1)], source_etype=I64), typ=PTR))
