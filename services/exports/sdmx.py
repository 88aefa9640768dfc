"""SDMX exports: data as SDMX-CSV 2.0, structure (DSD, codelists) as an SDMX-ML 2.1 message.

One dataflow per indicator, maintained by the observatory's agency (MARSAD_SDMX_AGENCY,
default TN_ONM). Identifiers are the upper-cased names used in Marsad: indicator
`entries_by_nationality` -> dataflow ENTRIES_BY_NATIONALITY, DSD DSD_ENTRIES_BY_NATIONALITY;
dimension `sex` -> SEX coded by CL_SEX (the catalog's codelist `sex`, names in ar/fr/en, plus
_T for totals); the time dimension (`period`) -> TIME_PERIOD.

Attributes, after the SDMX cross-domain concepts:
  OBS_STATUS    A normal value; P provisional (a release not yet published, or
                meta release.provisional); empty on a suppressed cell, which has no value
  CONF_STATUS   F free; C confidential (primary suppression: small count);
                D secondary confidentiality set by the sender (secondary suppression)
  UNIT_MEASURE  the table's unit, attached to the data set
The cross-domain codelists are declared under our agency, holding only the codes we use,
so that the structure message is complete on its own (an air-gapped reader needs nothing else).

A total over periods (TIME_PERIOD = _T) is no observation of a period and is left out of SDMX-CSV.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET

from services.catalog import Catalog, default_catalog
from services.languages import LANGUAGES
from services.cells import csv_row
from services.config import settings
from services.indicators.table import TOTAL, IndicatorTable

from .metadata import UNKNOWN, Description, Dimension, describe, localised, message, ordered_keys, plain_number

SDMX_VERSION = "1.0"
NS = {
    "mes": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message",
    "str": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure",
    "com": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

TIME_PERIOD, OBS_VALUE = "TIME_PERIOD", "OBS_VALUE"

# Names of the concepts and codes that are not in the catalog.
CONCEPT_NAMES = {
    TIME_PERIOD: {"ar": "الفترة الزمنية", "fr": "Période de temps", "en": "Time period"},
    OBS_VALUE: {"ar": "قيمة المشاهدة", "fr": "Valeur de l'observation", "en": "Observation value"},
    "OBS_STATUS": {"ar": "حالة المشاهدة", "fr": "Statut de l'observation", "en": "Observation status"},
    "CONF_STATUS": {"ar": "حالة السرية", "fr": "Statut de confidentialité", "en": "Confidentiality status"},
    "UNIT_MEASURE": {"ar": "وحدة القياس", "fr": "Unité de mesure", "en": "Unit of measure"},
}
OBS_STATUS_CODES = {
    "A": {"ar": "قيمة عادية", "fr": "Valeur normale", "en": "Normal value"},
    "P": {"ar": "قيمة مؤقتة", "fr": "Valeur provisoire", "en": "Provisional value"},
}
CONF_STATUS_CODES = {
    "F": {"ar": "للنشر", "fr": "Libre", "en": "Free"},
    "C": {"ar": "معلومة إحصائية سرية", "fr": "Information statistique confidentielle",
          "en": "Confidential statistical information"},
    "D": {"ar": "سرية ثانوية يحددها المرسل", "fr": "Confidentialité secondaire fixée par l'émetteur",
          "en": "Secondary confidentiality set by the sender, not for publication"},
}
CONF_OF_FLAG = {"primary": "C", "secondary": "D"}


def agency_id() -> str:
    return settings().sdmx_agency


def sdmx_id(name: str) -> str:
    """Marsad's snake_case names as SDMX identifiers ([A-Za-z0-9_@$-]+)."""
    out = "".join(ch if ch.isalnum() or ch in "_@$-" else "_" for ch in str(name)).upper()
    if not out:
        raise ValueError(f"cannot make an SDMX identifier of {name!r}")
    return out


class Structure:
    """How one indicator maps onto SDMX: identifiers of its flow, DSD, concepts and codelists."""

    def __init__(self, description: Description, agency: str | None = None, version: str = SDMX_VERSION,
                 codes_seen: dict[str, set[str]] | None = None):
        # codes_seen: codes the table holds per dimension, so that a code the catalog lacks
        # still has its place in the codelist (labelled with itself)
        self.description = description
        self.agency = agency or agency_id()
        self.version = version
        self.dataflow = sdmx_id(description.code)
        self.dsd = f"DSD_{self.dataflow}"
        self.concept_scheme = f"CS_{self.dataflow}"
        self.codes_seen = codes_seen or {}
        time = description.time_dimension
        self.time: Dimension | None = time
        self.coded: list[Dimension] = [d for d in description.dimensions if d is not time]

    @property
    def structure_id(self) -> str:
        return f"{self.agency}:{self.dataflow}({self.version})"

    def component_id(self, dim: Dimension) -> str:
        return TIME_PERIOD if dim is self.time else sdmx_id(dim.id)

    def codelist_id(self, dim: Dimension) -> str:
        if dim.codelist is not None and not dim.code_labels:
            return f"CL_{sdmx_id(dim.codelist.code)}"
        return f"CL_{self.dataflow}_{sdmx_id(dim.id)}"   # no catalog codelist: codes seen in the table

    @property
    def unit_code(self) -> str:
        return sdmx_id(self.description.unit)

    def codes(self, dim: Dimension) -> list[tuple[str, dict[str, str]]]:
        """(code, names in ar/fr/en): codes the indicator declares, the whole catalog codelist,
        codes only the table has, then _U (unknown) and _T (total)."""
        declared = [str(c) for c in dim.code_labels]
        if dim.codelist is not None:
            declared += [str(item["code"]) for item in dim.codelist.items if str(item["code"]) not in dim.code_labels]
        seen = sorted(self.codes_seen.get(dim.id, set()) - set(declared) - {TOTAL, UNKNOWN})
        codes = [*declared, *seen, UNKNOWN, TOTAL]
        return [(code, {lang: dim.code_label(code, lang) for lang in LANGUAGES}) for code in codes]


def _structure_of(source, catalog: Catalog | None, agency: str | None, version: str) -> Structure:
    description = describe(source, catalog)
    seen: dict[str, set[str]] = {}
    if isinstance(source, IndicatorTable):
        for key in source.cells:
            for dim_id, code in zip(source.dimensions, key):
                seen.setdefault(dim_id, set()).add(str(code))
    return Structure(description, agency, version, seen)


# --- data: SDMX-CSV 2.0 ---------------------------------------------------------------------


def to_sdmx_csv(table: IndicatorTable, catalog: Catalog | None = None, agency: str | None = None,
                version: str = SDMX_VERSION) -> bytes:
    """SDMX-CSV 2.0: STRUCTURE, STRUCTURE_ID, ACTION, the dimensions, OBS_VALUE, the attributes.

    Codes only, no labels (the structure message holds those). UTF-8 without a byte-order
    mark, as the SDMX-CSV specification asks.
    """
    structure = _structure_of(table, catalog, agency, version)
    order = structure.coded + ([structure.time] if structure.time else [])
    index = [table.dimensions.index(d.id) for d in order]
    release = structure.description.release
    provisional = bool(release.get("provisional")) or release.get("status") in ("draft", "approved")
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(csv_row(["STRUCTURE", "STRUCTURE_ID", "ACTION", *(structure.component_id(d) for d in order),
                             OBS_VALUE, "UNIT_MEASURE", "OBS_STATUS", "CONF_STATUS"]))
    for key in ordered_keys(table, structure.description):
        if structure.time is not None and str(key[index[-1]]) == TOTAL:
            continue
        flag = table.flags.get(key)
        value = None if flag else table.cells[key]
        if value is None:
            obs_status, conf = "", CONF_OF_FLAG.get(flag, "C")
        else:
            obs_status, conf = ("P" if provisional else "A"), "F"
        writer.writerow(csv_row(["dataflow", structure.structure_id, "I", *(str(key[i]) for i in index),
                                 plain_number(value), structure.unit_code, obs_status, conf]))
    return buf.getvalue().encode("utf-8")


# --- structure: SDMX-ML 2.1 ---------------------------------------------------------------


def _el(parent, tag: str, attrib: dict | None = None, text: str | None = None):
    prefix, local = tag.split(":") if ":" in tag else (None, tag)
    name = f"{{{NS[prefix]}}}{local}" if prefix else local   # 2.1 <Ref> is unqualified
    element = ET.SubElement(parent, name, {k: v for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _names(parent, names, fallback: str) -> None:
    # English first: tools that show one name without asking for a language take the first.
    for lang in sorted(LANGUAGES, key=lambda lang: lang != "en"):
        _el(parent, "com:Name", {XML_LANG: lang}, localised(names, lang, fallback) or fallback)


def _ref(parent, wrapper: str, **attrib) -> None:
    _el(_el(parent, wrapper), "Ref", attrib)


def _codelist(parent, cl_id: str, agency: str, version: str, names, codes) -> None:
    cl = _el(parent, "str:Codelist", {"id": cl_id, "agencyID": agency, "version": version})
    _names(cl, names, cl_id)
    for code, code_names in codes:
        _names(_el(cl, "str:Code", {"id": code}), code_names, code)


def data_structure(source, catalog: Catalog | None = None, agency: str | None = None,
                   version: str = SDMX_VERSION, prepared: dt.datetime | None = None) -> bytes:
    """The SDMX-ML 2.1 structure message of an indicator: dataflow, DSD, concepts, codelists.

    `source` is an IndicatorTable (codes it holds beyond the catalog are added to the
    codelists) or an indicator definition (see services.exports.metadata.describe).
    """
    catalog = catalog or default_catalog()
    s = _structure_of(source, catalog, agency, version)
    d = s.description
    prepared = prepared or dt.datetime.now(dt.timezone.utc)
    root = ET.Element(f"{{{NS['mes']}}}Structure")
    header = _el(root, "mes:Header")
    _el(header, "mes:ID", text=f"{s.dataflow}_STRUCTURE")
    _el(header, "mes:Test", text="false")
    _el(header, "mes:Prepared", text=prepared.strftime("%Y-%m-%dT%H:%M:%S"))
    _el(header, "mes:Sender", {"id": s.agency})
    structures = _el(root, "mes:Structures")

    # Element order is the schema's: Dataflows, Codelists, Concepts, DataStructures.
    flow = _el(_el(structures, "str:Dataflows"), "str:Dataflow",
               {"id": s.dataflow, "agencyID": s.agency, "version": s.version})
    _names(flow, d.names, d.code)
    _ref(flow, "str:Structure", id=s.dsd, agencyID=s.agency, version=s.version,
         package="datastructure", **{"class": "DataStructure"})

    codelists = _el(structures, "str:Codelists")
    written = set()
    for dim in s.coded:
        cl_id = s.codelist_id(dim)
        if cl_id not in written:
            names = dim.codelist.names if dim.codelist is not None else dim.labels
            _codelist(codelists, cl_id, s.agency, s.version, names, s.codes(dim))
            written.add(cl_id)
    _codelist(codelists, "CL_OBS_STATUS", s.agency, s.version, CONCEPT_NAMES["OBS_STATUS"],
              OBS_STATUS_CODES.items())
    _codelist(codelists, "CL_CONF_STATUS", s.agency, s.version, CONCEPT_NAMES["CONF_STATUS"],
              CONF_STATUS_CODES.items())
    _codelist(codelists, "CL_UNIT_MEASURE", s.agency, s.version, CONCEPT_NAMES["UNIT_MEASURE"],
              [(s.unit_code, {lang: d.unit_label(lang) for lang in LANGUAGES})])

    scheme = _el(_el(structures, "str:Concepts"), "str:ConceptScheme",
                 {"id": s.concept_scheme, "agencyID": s.agency, "version": s.version})
    _names(scheme, {lang: f"{d.name(lang)}: {message('dimensions', lang)}" for lang in LANGUAGES}, s.concept_scheme)
    concepts = [(s.component_id(dim), dim.labels) for dim in s.coded]
    if s.time is not None:
        concepts.append((TIME_PERIOD, CONCEPT_NAMES[TIME_PERIOD]))
    concepts += [(c, CONCEPT_NAMES[c]) for c in (OBS_VALUE, "OBS_STATUS", "CONF_STATUS", "UNIT_MEASURE")]
    for concept_id, names in concepts:
        _names(_el(scheme, "str:Concept", {"id": concept_id}), names, concept_id)

    def concept_identity(parent, concept_id):
        _ref(parent, "str:ConceptIdentity", id=concept_id, maintainableParentID=s.concept_scheme,
             maintainableParentVersion=s.version, agencyID=s.agency, package="conceptscheme",
             **{"class": "Concept"})

    def enumeration(parent, cl_id):
        representation = _el(parent, "str:LocalRepresentation")
        _ref(representation, "str:Enumeration", id=cl_id, version=s.version, agencyID=s.agency,
             package="codelist", **{"class": "Codelist"})

    dsd = _el(_el(structures, "str:DataStructures"), "str:DataStructure",
              {"id": s.dsd, "agencyID": s.agency, "version": s.version})
    _names(dsd, d.names, d.code)
    components = _el(dsd, "str:DataStructureComponents")
    dim_list = _el(components, "str:DimensionList", {"id": "DimensionDescriptor"})
    for position, dim in enumerate(s.coded, start=1):
        element = _el(dim_list, "str:Dimension", {"id": s.component_id(dim), "position": str(position)})
        concept_identity(element, s.component_id(dim))
        enumeration(element, s.codelist_id(dim))
    if s.time is not None:
        element = _el(dim_list, "str:TimeDimension", {"id": TIME_PERIOD, "position": str(len(s.coded) + 1)})
        concept_identity(element, TIME_PERIOD)
        _el(_el(element, "str:LocalRepresentation"), "str:TextFormat", {"textType": "ObservationalTimePeriod"})

    attributes = _el(components, "str:AttributeList", {"id": "AttributeDescriptor"})
    for attr_id, status, cl_id, on_observation in (
        ("UNIT_MEASURE", "Mandatory", "CL_UNIT_MEASURE", False),
        ("OBS_STATUS", "Conditional", "CL_OBS_STATUS", True),
        ("CONF_STATUS", "Mandatory", "CL_CONF_STATUS", True),
    ):
        element = _el(attributes, "str:Attribute", {"id": attr_id, "assignmentStatus": status})
        concept_identity(element, attr_id)
        enumeration(element, cl_id)
        relationship = _el(element, "str:AttributeRelationship")
        if on_observation:
            _ref(relationship, "str:PrimaryMeasure", id=OBS_VALUE)
        else:
            _el(relationship, "str:None")

    measures = _el(components, "str:MeasureList", {"id": "MeasureDescriptor"})
    primary = _el(measures, "str:PrimaryMeasure", {"id": OBS_VALUE})
    concept_identity(primary, OBS_VALUE)
    _el(_el(primary, "str:LocalRepresentation"), "str:TextFormat", {"textType": "Double"})

    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
