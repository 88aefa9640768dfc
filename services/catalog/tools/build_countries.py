"""Write codelists/countries.yaml from pycountry (ISO 3166-1 and its Arabic and French translations).

A development tool: run it when pycountry's ISO data moves, review the diff, commit the YAML.
The YAML is the source of truth; nothing at run time imports pycountry.

    .venv/bin/python services/catalog/tools/build_countries.py [--check]

The ISO translations are the starting point only: ISO's Arabic carries shadda and vowel marks
and a few odd or missing names, ISO's French and English use the inverted "Iran, République
islamique d'" form. The tables below put the names a clerk in Tunis would write first and keep
ISO's names as aliases, so files using either resolve.
"""
from __future__ import annotations

import argparse
import gettext
import re
import sys
from pathlib import Path

import pycountry
import yaml

from services.catalog import fold

OUTPUT = Path(__file__).resolve().parents[1] / "codelists" / "countries.yaml"

# Labels that replace ISO's where ISO's reads badly or is missing (ar for TUR).
LABELS = {
    "ALA": {"fr": "Îles Åland"},
    "BLR": {"ar": "بيلاروسيا", "fr": "Biélorussie"},
    "BOL": {"ar": "بوليفيا", "fr": "Bolivie"},
    "BRN": {"ar": "بروناي", "fr": "Brunei", "en": "Brunei"},
    "CCK": {"fr": "Îles Cocos (Keeling)"},
    "COD": {"ar": "جمهورية الكونغو الديمقراطية", "en": "Democratic Republic of the Congo"},
    "COG": {"fr": "Congo"},
    "CUW": {"ar": "كوراساو"},
    "CXR": {"ar": "جزيرة كريسماس", "fr": "Île Christmas"},
    "FLK": {"fr": "Îles Malouines (Falkland)"},
    "FSM": {"ar": "ميكرونيزيا", "fr": "Micronésie", "en": "Micronesia"},
    "GGY": {"ar": "غيرنزي"},
    "GLP": {"ar": "غوادلوب"},
    "GNQ": {"fr": "Guinée équatoriale"},
    "HUN": {"ar": "المجر"},
    "IMN": {"ar": "جزيرة مان"},
    "IOT": {"ar": "إقليم المحيط الهندي البريطاني"},
    "ATF": {"ar": "الأقاليم الجنوبية الفرنسية"},
    "IRN": {"ar": "إيران", "fr": "Iran"},
    "KOR": {"ar": "كوريا الجنوبية", "fr": "Corée du Sud"},
    "LAO": {"ar": "لاوس", "fr": "Laos"},
    "LTU": {"ar": "ليتوانيا"},
    "MAC": {"ar": "ماكاو", "fr": "Macao"},
    "MDA": {"ar": "مولدوفا", "fr": "Moldavie"},
    "MNE": {"ar": "الجبل الأسود"},
    "NCL": {"ar": "كاليدونيا الجديدة"},
    "NZL": {"ar": "نيوزيلندا"},
    "GUM": {"ar": "غوام"},
    "NIC": {"ar": "نيكاراغوا"},
    "PCN": {"ar": "جزر بيتكيرن"},
    "PRK": {"ar": "كوريا الشمالية", "fr": "Corée du Nord"},
    "PSE": {"ar": "فلسطين", "fr": "Palestine", "en": "Palestine"},
    "REU": {"fr": "La Réunion"},
    "RUS": {"ar": "روسيا", "fr": "Russie", "en": "Russia"},
    "SHN": {"ar": "سانت هيلينا وأسنشن وتريستان دا كونا"},
    "SLB": {"ar": "جزر سليمان", "fr": "Îles Salomon"},
    "SRB": {"ar": "صربيا"},
    "SYR": {"ar": "سوريا", "fr": "Syrie"},
    "TCA": {"ar": "جزر توركس وكايكوس"},
    "TUR": {"ar": "تركيا"},
    "TWN": {"ar": "تايوان", "fr": "Taïwan"},
    "TZA": {"ar": "تنزانيا", "fr": "Tanzanie"},
    "VAT": {"ar": "الكرسي الرسولي (الفاتيكان)", "fr": "Saint-Siège (Vatican)", "en": "Holy See (Vatican)"},
    "VCT": {"ar": "سانت فينسنت والغرينادين"},
    "VEN": {"ar": "فنزويلا", "fr": "Venezuela"},
    "VGB": {"ar": "جزر العذراء البريطانية", "en": "British Virgin Islands"},
    "VIR": {"ar": "جزر العذراء الأمريكية", "fr": "Îles Vierges des États-Unis", "en": "U.S. Virgin Islands"},
    "VNM": {"ar": "فيتنام"},
}

# Codes outside ISO 3166-1 that travel documents and registers use (ICAO Doc 9303 and the
# user-assigned XK* range). Kosovo carries the UN wording; "RKS" is its passports' code.
SPECIAL = [
    {"code": "XKX",
     "labels": {"ar": "كوسوفو (قرار مجلس الأمن 1244)", "fr": "Kosovo (RCSNU 1244)", "en": "Kosovo (UNSCR 1244)"},
     "aliases": ["XK", "RKS", "Kosovo", "كوسوفو"]},
    {"code": "XXA",
     "labels": {"ar": "عديم الجنسية", "fr": "Apatride", "en": "Stateless"},
     "aliases": ["Stateless person", "Sans nationalité", "Apatride (personne)", "بدون جنسية", "عديمة الجنسية"]},
    {"code": "XXB",
     "labels": {"ar": "لاجئ (اتفاقية 1951)", "fr": "Réfugié (Convention de 1951)", "en": "Refugee (1951 Convention)"},
     "aliases": []},
    {"code": "XXC",
     "labels": {"ar": "لاجئ (صكوك أخرى)", "fr": "Réfugié (autres instruments)", "en": "Refugee (other instruments)"},
     "aliases": []},
    {"code": "XXX",
     "labels": {"ar": "جنسية غير معروفة", "fr": "Nationalité inconnue", "en": "Unknown nationality"},
     "aliases": ["Unknown", "Unspecified", "Inconnue", "Inconnu", "Non déterminée",
                 "غير معروف", "غير محدد", "غير معروفة"]},
]

# Spellings met in Tunisian files: short and colloquial names, older names, nationality
# adjectives (files often hold "Tunisienne" or "سوري" in a nationality column).
ALIASES = {
    "TUN": ["Tunisien", "Tunisienne", "Tunisian", "تونسي", "تونسية"],
    "LBY": ["Lybie", "Libyen", "Libyenne", "Libyan", "ليبي", "ليبية", "الدولة الليبية"],
    "DZA": ["Algérien", "Algérienne", "Algerian", "جزائري", "جزائرية", "الجمهورية الجزائرية"],
    "MAR": ["Marocain", "Marocaine", "Moroccan", "مغربي", "مغربية", "المملكة المغربية"],
    "MRT": ["Mauritanien", "Mauritanienne", "Mauritanian", "موريتاني", "موريتانية"],
    "EGY": ["Égyptien", "Égyptienne", "Egyptian", "مصري", "مصرية", "جمهورية مصر العربية"],
    "SDN": ["Soudanais", "Soudanaise", "Sudanese", "سوداني", "سودانية"],
    "SSD": ["Sud-Soudan", "Sud Soudan", "Sud-Soudanais", "Sud-Soudanaise", "South Sudanese"],
    "SYR": ["Syrien", "Syrienne", "Syrian", "سورية", "سوري", "الجمهورية العربية السورية"],
    "PSE": ["Palestinien", "Palestinienne", "Palestinian", "فلسطيني", "فلسطينية",
            "Territoires palestiniens", "Palestinian Territories", "الأراضي الفلسطينية"],
    "IRQ": ["Iraq", "Irakien", "Irakienne", "Iraqi", "عراقي", "عراقية"],
    "YEM": ["Yéménite", "Yemeni", "يمني", "يمنية"],
    "JOR": ["Jordanien", "Jordanienne", "Jordanian", "أردني", "أردنية"],
    "LBN": ["Libanais", "Libanaise", "Lebanese", "لبناني", "لبنانية"],
    "SAU": ["Saoudien", "Saoudienne", "Saudi", "KSA", "سعودي", "المملكة العربية السعودية"],
    "ARE": ["Émirats", "EAU", "UAE", "Emirati", "Émirati", "الإمارات", "إماراتي"],
    "QAT": ["Qatari", "Qatarie", "قطري", "قطرية"],
    "KWT": ["Koweïtien", "Kuwaiti", "كويتي"],
    "OMN": ["سلطنة عمان"],
    "CIV": ["Cote d Ivoire", "Côte d’Ivoire", "Ivory Coast", "RCI", "Ivoirien", "Ivoirienne", "Ivorian",
            "كوت ديفوار", "إيفواري", "إيفوارية"],
    "CMR": ["Camerounais", "Camerounaise", "Cameroonian", "كاميروني", "كاميرونية"],
    "GIN": ["Guinée Conakry", "Guinée-Conakry", "Guinea-Conakry", "Guinéen", "Guinéenne", "Guinean",
            "غينيا كوناكري", "غيني", "غينية"],
    "GNB": ["Bissau-Guinéen", "Bissau-Guinean"],
    "MLI": ["Malien", "Malienne", "Malian", "مالية"],
    "SEN": ["Sénégalais", "Sénégalaise", "Senegalese", "سنغالي", "سنغالية", "السينغال"],
    "BFA": ["Burkina", "Burkinabè", "Burkinabe", "بوركينا"],
    "NER": ["Nigérien", "Nigérienne", "Nigerien"],
    "NGA": ["Nigérian", "Nigériane", "Nigerian", "نيجيري", "نيجيرية"],
    "TCD": ["Tchadien", "Tchadienne", "Chadian", "تشادي", "تشادية"],
    "GHA": ["Ghanéen", "Ghanéenne", "Ghanaian", "غاني", "غانية"],
    "BEN": ["Béninois", "Béninoise", "Beninese"],
    "TGO": ["Togolais", "Togolaise", "Togolese"],
    "SLE": ["Sierra-Léonais", "Sierra-Léonaise", "Sierra Leonean"],
    "LBR": ["Libérien", "Libérienne", "Liberian"],
    "GMB": ["Gambien", "Gambienne", "Gambian"],
    "ERI": ["Érythréen", "Érythréenne", "Eritrean", "إريتري", "إريترية"],
    "ETH": ["Éthiopien", "Éthiopienne", "Ethiopian", "إثيوبي", "إثيوبية"],
    "SOM": ["Somalien", "Somalienne", "Somali", "صومالي", "صومالية"],
    "COD": ["RDC", "DRC", "RD Congo", "DR Congo", "Congo-Kinshasa", "Congo Kinshasa", "Zaïre",
            "الكونغو الديمقراطية"],
    "COG": ["Congo-Brazzaville", "Congo Brazzaville", "جمهورية الكونغو"],
    "CAF": ["Centrafrique", "Centrafricain", "Centrafricaine", "إفريقيا الوسطى"],
    "ZAF": ["Sud-Africain", "South African"],
    "FRA": ["Français", "Française", "French", "فرنسي", "فرنسية"],
    "ITA": ["Italien", "Italienne", "Italian", "إيطالي", "إيطالية"],
    "DEU": ["D", "Allemand", "Allemande", "German", "ألماني", "ألمانية"],
    "BEL": ["Belge", "Belgian", "بلجيكي", "بلجيكية"],
    "ESP": ["Espagnol", "Espagnole", "Spanish", "إسباني", "إسبانية"],
    "NLD": ["Hollande", "Holland", "Néerlandais", "Néerlandaise", "Dutch", "هولندي"],
    "CHE": ["Swiss", "سويسري", "سويسرية"],
    "GBR": ["UK", "U.K.", "Grande-Bretagne", "Great Britain", "Britain", "Angleterre", "England",
            "Britannique", "British", "بريطانيا", "إنجلترا", "بريطاني", "بريطانية"],
    "USA": ["US", "U.S.A.", "Etats Unis", "United States of America", "Amérique", "America", "Américain",
            "Américaine", "American", "أمريكا", "الولايات المتحدة الأمريكية", "أمريكي", "أمريكية"],
    "CAN": ["Canadien", "Canadienne", "Canadian", "كندي", "كندية"],
    "TUR": ["Turkey", "Turc", "Turque", "Turkish", "تركي", "تركية"],
    "RUS": ["Russe", "روسي", "روسية"],
    "UKR": ["Ukrainien", "Ukrainienne", "Ukrainian", "أوكراني", "أوكرانية"],
    "CHN": ["Chinois", "Chinoise", "Chinese", "صيني", "صينية"],
    "BGD": ["Bangladais", "Bangladaise", "Bangladeshi", "بنغلاديش", "بنغلاديشي"],
    "PAK": ["Pakistanais", "Pakistanaise", "Pakistani", "باكستاني", "باكستانية"],
    "CZE": ["Czech Republic", "République tchèque"],
    "MKD": ["Macédoine", "Macedonia"],
    "BLR": ["Bélarus", "روسيا البيضاء"],
    "MMR": ["Myanmar", "Burma"],
    "CPV": ["Cape Verde", "كابو فيردي"],
    "SWZ": ["Swaziland", "سوازيلاند"],
    "VAT": ["Vatican", "الفاتيكان"],
    "TWN": ["Taiwan, Province of China"],
}

ARABIC_MARKS = re.compile("[\u064b-\u0652]")  # tanwin, harakat, shadda, sukun


def clean_arabic(text: str) -> str:
    # Administrative Arabic is written unvocalised, and "و" joins the next word.
    return ARABIC_MARKS.sub("", text).replace(" و ", " و").strip()


def country_items() -> list[dict]:
    ar = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ar"])
    fr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["fr"])
    items = []
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_3):
        code = country.alpha_3
        official = getattr(country, "official_name", None)
        common = getattr(country, "common_name", None)
        iso_ar = ar.gettext(country.name)
        labels = {
            "ar": clean_arabic(iso_ar) if iso_ar != country.name else "",
            "fr": fr.gettext(country.name),
            "en": common or country.name,
        }
        labels.update(LABELS.get(code, {}))
        if not labels["ar"]:
            raise SystemExit(f"{code}: no Arabic name in pycountry and none in LABELS")
        spellings = [country.alpha_2, country.name, common, official, fr.gettext(country.name), iso_ar]
        if official:
            spellings += [fr.gettext(official), clean_arabic(ar.gettext(official))]
        # "Guinée Bissau" for "Guinée-Bissau": hyphens are often dropped.
        spellings += [labels[lang].replace("-", " ") for lang in ("fr", "en")]
        spellings += ALIASES.get(code, [])
        items.append({
            "code": code,
            "labels": labels,
            "aliases": spellings,
            "attributes": {"alpha_2": country.alpha_2, "numeric": country.numeric},
        })
    for special in SPECIAL:
        items.append({**special, "attributes": {"iso": False}})
    return [_dedupe(item) for item in items]


def _dedupe(item: dict) -> dict:
    """Drop aliases that fold to a spelling the item already has, so the YAML lists each once."""
    seen = {fold(item["code"])} | {fold(label) for label in item["labels"].values()}
    aliases = []
    for alias in item["aliases"]:
        if alias and fold(alias) not in seen:
            seen.add(fold(alias))
            aliases.append(alias)
    return {**item, "aliases": aliases}


def check_collisions(items: list[dict]) -> None:
    owner: dict[str, str] = {}
    problems = []
    for item in items:
        for spelling in (item["code"], *item["labels"].values(), *item["aliases"]):
            key = fold(spelling)
            if owner.setdefault(key, item["code"]) != item["code"]:
                problems.append(f"{spelling!r}: {owner[key]} and {item['code']}")
    if problems:
        raise SystemExit("spellings meaning two countries:\n  " + "\n  ".join(problems))


class _Flow(dict):
    pass


class _FlowList(list):
    pass


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def render(items: list[dict]) -> str:
    data = {
        "code": "countries",
        "names": _Flow({"ar": "البلدان والجنسيات", "fr": "Pays et nationalités", "en": "Countries and nationalities"}),
        "items": [
            {"code": i["code"], "labels": _Flow(i["labels"]), "aliases": _FlowList(i["aliases"]),
             "attributes": _Flow(i["attributes"])}
            for i in items
        ],
    }
    head = (
        "# Generated by services/catalog/tools/build_countries.py from pycountry (ISO 3166-1),\n"
        "# with the corrections and Tunisian spellings listed in that script.\n"
        "# Edit the script and regenerate rather than editing this file by hand.\n"
    )
    # safe_dump's quoting keeps codes like NO (Norway) from being read back as booleans.
    return head + yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=4096)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed YAML differs")
    args = parser.parse_args(argv)
    items = country_items()
    check_collisions(items)
    text = render(items)
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is out of date; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(items)} countries to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
