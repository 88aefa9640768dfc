"""What real partner files look like, per dataset: the realism layered on the catalog.

Everything here is a hint keyed by dataset code, field name or codelist code. The
generator uses a hint only where the catalog has the field or code it names, and falls
back to catalog-driven defaults otherwise, so a new dataset in the catalog gets plausible
data without an entry here.

Weights are relative, not shares. Country codes are ISO 3166-1 alpha-3, governorates
ISO 3166-2:TN.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Tunisian governorates by population (INS census 2024, rounded): where people live,
# and so where migrants leave from and return to.
GOVERNORATE_POPULATION = {
    "TN-11": 9.5, "TN-12": 5.3, "TN-13": 6.2, "TN-14": 3.8, "TN-21": 7.4, "TN-22": 1.6,
    "TN-23": 5.0, "TN-31": 2.8, "TN-32": 3.5, "TN-33": 2.2, "TN-34": 2.0, "TN-41": 5.4,
    "TN-42": 4.1, "TN-43": 4.1, "TN-51": 6.5, "TN-52": 5.2, "TN-53": 3.7, "TN-61": 9.1,
    "TN-71": 3.2, "TN-72": 1.0, "TN-73": 1.4, "TN-81": 3.4, "TN-82": 4.5, "TN-83": 1.4,
}
# Departures by sea leave mostly from the Sfax coast, then Mahdia, Médenine (Zarzis),
# Nabeul (Cap Bon) and Monastir; inland governorates have no coast.
GOVERNORATE_INTERCEPTIONS = {
    "TN-61": 40, "TN-53": 13, "TN-82": 11, "TN-21": 10, "TN-52": 8, "TN-81": 5, "TN-51": 5,
    "TN-23": 3, "TN-13": 1, "TN-11": 1, "TN-12": 0.5,
}

# Tunisians abroad: France dominates, then Italy and Germany (OTE estimates).
TUNISIANS_ABROAD = {
    "FRA": 50, "ITA": 15, "DEU": 9, "BEL": 3.5, "CHE": 2.5, "CAN": 3.5, "LBY": 4, "USA": 1.5,
    "ARE": 2, "QAT": 2, "SAU": 2, "GBR": 1.2, "NLD": 0.8, "AUT": 0.7, "SWE": 0.5, "DZA": 0.5,
    "OMN": 0.3, "KWT": 0.3,
}

# Month weights (Jan..Dec). Border traffic: the summer wave of Tunisians abroad coming home
# and of tourists, a smaller one at the year-end holidays, a winter trough.
BORDER_MONTHS = (4.8, 4.6, 6.0, 7.0, 7.4, 9.0, 14.5, 15.5, 8.5, 7.2, 5.2, 7.0)
FLAT_MONTHS = (8, 7.5, 8.5, 8.5, 8.5, 8, 8, 8, 9.5, 9.5, 8.5, 7.5)
SEA_CROSSING_MONTHS = (3, 3, 5, 7, 9, 12, 14, 15, 13, 9, 6, 4)  # calm sea, summer peak
ACADEMIC_MONTHS = (6, 5, 5, 5, 5, 6, 7, 9, 16, 15, 10, 6)  # students' permits in autumn

# Ages as (youngest, oldest, weight) bands, youngest and oldest inclusive.
TRAVELLER_AGES = ((0, 4, 3), (5, 14, 8), (15, 24, 13), (25, 34, 22), (35, 44, 20),
                  (45, 54, 15), (55, 64, 11), (65, 79, 7), (80, 90, 1))
RESIDENT_AGES = ((0, 17, 8), (18, 24, 22), (25, 34, 28), (35, 44, 18), (45, 59, 14),
                 (60, 80, 10))
WORKER_AGES = ((20, 24, 8), (25, 34, 40), (35, 44, 30), (45, 54, 15), (55, 64, 7))
MIGRANT_AGES = ((0, 11, 4), (12, 17, 9), (18, 24, 34), (25, 34, 35), (35, 44, 13), (45, 60, 5))
REFUGEE_AGES = ((0, 4, 10), (5, 17, 20), (18, 24, 18), (25, 34, 26), (35, 49, 18),
                (50, 75, 8))
POPULATION_AGES = ((0, 14, 20), (15, 24, 14), (25, 44, 32), (45, 64, 24), (65, 90, 10))


# Where foreigners live and work in Tunisia: Greater Tunis, the Sahel and Sfax.
GOVERNORATE_FOREIGNERS = {
    "TN-11": 26, "TN-12": 14, "TN-13": 8, "TN-14": 2, "TN-21": 6, "TN-23": 3, "TN-51": 9,
    "TN-52": 5, "TN-53": 2, "TN-61": 12, "TN-82": 5, "TN-81": 2, "TN-41": 1, "TN-22": 1,
}
# Where refugees and asylum seekers live: the south-east (Zarzis, Médenine), Sfax, Tunis.
GOVERNORATE_REFUGEES = {"TN-82": 25, "TN-61": 22, "TN-11": 18, "TN-12": 12, "TN-13": 8, "TN-51": 5,
                        "TN-81": 4, "TN-83": 2}
# Where irregular migrants come from and are returned to: the coast and the interior west.
GOVERNORATE_EMIGRATION = {**GOVERNORATE_POPULATION, "TN-61": 14, "TN-82": 8, "TN-42": 7, "TN-43": 7,
                          "TN-41": 7, "TN-71": 5, "TN-53": 6}


@dataclass(frozen=True)
class Profile:
    """Realism hints for one dataset; every hint is optional."""
    nationalities: dict[str, float] = field(default_factory=dict)
    male_share: float = 0.55
    ages: tuple = TRAVELLER_AGES
    months: tuple = FLAT_MONTHS
    # Share of Arab nationals whose names the source writes in Arabic script.
    arabic_script: float = 0.3
    # Per field name: {code, or lower-case keyword found in the code's labels: weight};
    # unlisted codes share the smallest listed weight, so no code in the codelist is impossible.
    codes: dict[str, dict[str, float]] = field(default_factory=dict)
    # Per integer field: {value: weight}, for values that cluster (contract lengths).
    numbers: dict[str, dict[int, float]] = field(default_factory=dict)
    # Per optional field: share of rows where the source leaves it empty (default 2%).
    blank: dict[str, float] = field(default_factory=dict)
    # Per identifier field: a str.format template for the row's number, as the source numbers.
    id_templates: dict[str, str] = field(default_factory=dict)
    # Count datasets: typical count in a busy row, and parts as shares of the whole.
    count_scale: float = 40.0
    part_shares: dict[str, float] = field(default_factory=dict)


DEFAULT = Profile(
    nationalities={"TUN": 50, "LBY": 8, "DZA": 8, "FRA": 5, "ITA": 3, "DEU": 2, "MAR": 2,
                   "CIV": 2, "SDN": 1, "SYR": 1, "CMR": 1, "SEN": 1, "MLI": 1},
)

PROFILES: dict[str, Profile] = {
    "border_crossings": Profile(
        nationalities={
            "TUN": 46, "LBY": 18, "DZA": 13, "FRA": 4.5, "DEU": 2.8, "ITA": 2.2, "GBR": 1.8,
            "RUS": 1.6, "BEL": 0.9, "CHE": 0.7, "POL": 0.8, "CZE": 0.5, "ESP": 0.5, "NLD": 0.4,
            "AUT": 0.3, "UKR": 0.3, "SWE": 0.2, "CAN": 0.3, "USA": 0.3, "MAR": 0.8, "EGY": 0.4,
            "TUR": 0.4, "CHN": 0.3, "CIV": 0.4, "SEN": 0.2, "CMR": 0.2, "MLI": 0.2, "SYR": 0.2,
            "SDN": 0.1, "JOR": 0.1, "LBN": 0.1, "SAU": 0.1, "QAT": 0.1,
        },
        male_share=0.6, ages=TRAVELLER_AGES, months=BORDER_MONTHS, arabic_script=0.25,
        blank={"document_number": 0.01, "birth_date": 0.01, "age": 0.01, "purpose": 0.05,
               "country_of_residence": 0.02},
        id_templates={"event_id": "EV{year}{n:09d}"},
    ),
    "residence_permits": Profile(
        nationalities={
            "FRA": 12, "ITA": 8, "MAR": 7, "DZA": 9, "LBY": 8, "CIV": 11, "CMR": 6, "MLI": 4,
            "SEN": 5, "CHN": 4, "TUR": 4, "DEU": 3, "SYR": 2, "EGY": 2, "GIN": 3, "BFA": 2,
            "COG": 2, "GAB": 2, "TCD": 2, "MRT": 2, "ESP": 2, "BEL": 2, "NGA": 1, "USA": 1,
            "RUS": 1, "UKR": 1, "GBR": 1, "PSE": 1, "JOR": 0.5, "IRQ": 0.5, "COD": 1,
        },
        male_share=0.6, ages=RESIDENT_AGES, months=ACADEMIC_MONTHS, arabic_script=0.4,
        codes={"application_type": {"FIRST": 35, "RENEWAL": 55, "REPLACEMENT": 5, "CHANGE": 5},
               "permit_type": {"TEMPORARY": 70, "ORDINARY": 15, "RECEIPT": 12, "OTHER": 3},
               "residence_reason": {"EDUCATION": 28, "EMPLOYMENT": 27, "FAMILY": 20, "SELF_EMPLOYMENT": 5,
                                    "INVESTMENT": 3, "RETIREMENT": 8, "HUMANITARIAN": 4, "OTHER": 5},
               "permit_status": {"VALID": 88, "WITHDRAWN": 1, "CANCELLED": 2},
               "governorate_of_residence": GOVERNORATE_FOREIGNERS},
        blank={"application_type": 0.05, "residence_reason": 0.04, "permit_status": 0.1},
        id_templates={"permit_number": "CS/{year}/{n:07d}"},
    ),
    "work_permits": Profile(
        nationalities={
            "FRA": 15, "ITA": 10, "TUR": 8, "CHN": 10, "DEU": 5, "MAR": 5, "DZA": 4, "LBY": 3,
            "CIV": 6, "CMR": 4, "SEN": 3, "ESP": 3, "BEL": 3, "EGY": 3, "SYR": 2, "IND": 2,
            "GBR": 2, "USA": 2, "JOR": 1, "PAK": 1, "BGD": 1, "PRT": 1, "NLD": 1, "RUS": 1,
        },
        male_share=0.78, ages=WORKER_AGES, months=FLAT_MONTHS, arabic_script=0.3,
        codes={"application_type": {"FIRST": 50, "RENEWAL": 45, "REPLACEMENT": 2, "CHANGE": 3},
               "permit_type": {"FIXED_TERM": 60, "EXPORT_DECLARATION": 20, "SECONDMENT": 8, "SEASONAL": 3,
                               "TRAINEESHIP": 4, "SELF_EMPLOYED": 3, "OTHER": 2},
               "sector": {"C": 30, "F": 12, "J": 10, "M": 10, "G": 8, "I": 6, "B": 5, "D": 5, "K": 4,
                          "P": 4, "Q": 3, "U": 3},
               "employer_governorate": GOVERNORATE_FOREIGNERS},
        blank={"occupation": 0.05, "occupation_code": 0.15},
        id_templates={"permit_number": "CT-{year}-{n:06d}"},
    ),
    "placements_abroad": Profile(
        nationalities={"TUN": 100},
        male_share=0.8, ages=WORKER_AGES, months=FLAT_MONTHS, arabic_script=0.35,
        codes={"destination_country": {"SAU": 15, "QAT": 15, "DEU": 16, "FRA": 12, "ITA": 8,
                                       "ARE": 8, "CAN": 6, "KWT": 4, "OMN": 3, "LBY": 4,
                                       "BHR": 2, "CHE": 2, "BEL": 2, "GBR": 2, "JPN": 0.5},
               "sector": {"Q": 20, "F": 12, "P": 8, "J": 10, "I": 12, "C": 10, "A": 6, "H": 6,
                          "T": 5, "G": 4, "M": 4},
               "education_level": {"VOCATIONAL": 25, "UPPER_SECONDARY": 20, "BACHELOR": 18, "MASTER": 15,
                                   "HIGHER": 6, "LOWER_SECONDARY": 8, "PRIMARY": 4, "DOCTORATE": 3,
                                   "NONE": 1},
               "placement_channel": {"ANETI": 35, "ATCT": 20, "PRIVATE_AGENCY": 35,
                                     "BILATERAL_PROGRAMME": 8, "OTHER": 2}},
        numbers={"contract_duration_months": {6: 8, 9: 3, 12: 35, 24: 30, 36: 15, 48: 3, 60: 4, 120: 0.5}},
        blank={"national_id_number": 0.03, "education_level": 0.08, "occupation": 0.05,
               "placement_channel": 0.03, "contract_duration_months": 0.1},
        id_templates={"placement_id": "PL{year}/{n:06d}"},
    ),
    "consular_registrations": Profile(
        nationalities={"TUN": 100},
        male_share=0.55, ages=POPULATION_AGES, months=FLAT_MONTHS, arabic_script=0.4,
        codes={"country_of_residence": TUNISIANS_ABROAD},
        blank={"national_id_number": 0.15, "occupation": 0.3, "governorate_of_origin": 0.1},
    ),
    "returnees": Profile(
        nationalities={"TUN": 100},
        male_share=0.9, ages=MIGRANT_AGES, months=FLAT_MONTHS, arabic_script=0.35,
        codes={"country_of_return_from": {"ITA": 40, "DEU": 15, "FRA": 14, "BEL": 4, "CHE": 5,
                                          "AUT": 3, "LBY": 10, "NLD": 2, "GBR": 1, "SWE": 1},
               "return_type": {"FORCED": 35, "READMISSION": 20, "ASSISTED_VOLUNTARY": 20, "VOLUNTARY": 15,
                               "REFUSED_ENTRY": 5, "EVACUATION": 3, "OTHER": 2},
               "governorate_of_destination": GOVERNORATE_EMIGRATION},
        blank={"national_id_number": 0.1, "governorate_of_destination": 0.05},
        id_templates={"return_id": "RET-{year}-{n:06d}"},
    ),
    "asylum_refugees": Profile(
        nationalities={
            "SDN": 30, "SYR": 15, "CIV": 12, "ERI": 8, "SOM": 6, "PSE": 5, "GIN": 5, "CMR": 4,
            "YEM": 3, "ETH": 3, "IRQ": 2, "MLI": 2, "NGA": 2, "SSD": 2, "COD": 1, "TCD": 1,
            "BFA": 1, "SLE": 0.5, "LBY": 1,
        },
        male_share=0.68, ages=REFUGEE_AGES, months=FLAT_MONTHS, arabic_script=0.5,
        codes={"protection_status": {"ASYLUM_SEEKER": 45, "REFUGEE": 35, "REJECTED": 6, "APPEAL": 4,
                                     "CLOSED": 7, "RESETTLED": 3},
               "governorate_of_residence": GOVERNORATE_REFUGEES},
        blank={"nationality": 0.08, "arrival_date": 0.15, "governorate_of_residence": 0.05},
        id_templates={"case_id": "TUN-{yy}C{n:05d}"},
    ),
    "interceptions": Profile(
        nationalities={
            "TUN": 35, "CIV": 15, "GIN": 12, "SDN": 8, "BFA": 6, "MLI": 6, "CMR": 5, "SEN": 3,
            "SYR": 2, "EGY": 2, "BGD": 2, "NGA": 2, "GMB": 1, "SLE": 1, "TCD": 1, "ERI": 0.5,
        },
        male_share=0.82, ages=MIGRANT_AGES, months=SEA_CROSSING_MONTHS,
        codes={"governorate": GOVERNORATE_INTERCEPTIONS,
               "location_type": {"SEA": 70, "LAND": 27, "LAND_BORDER": 3}},
        blank={"operations": 0.1, "women": 0.05, "minors": 0.05, "deaths": 0.3, "missing": 0.4},
        count_scale=60.0,
        part_shares={"minors": 0.12, "women": 0.09, "operations": 0.04, "deaths": 0.004,
                     "missing": 0.006},
    ),
}


def profile_for(dataset_code: str) -> Profile:
    return PROFILES.get(dataset_code, DEFAULT)


# Border posts by how busy they are, matched on the code or labels (folded). Tunis-Carthage
# airport and Ras Jedir on the Libyan border carry the most traffic by far.
BORDER_POST_TRAFFIC = {
    "carthage": 30, "ras jedir": 26, "ras ajdir": 26, "ras jdir": 26, "dhehiba": 7,
    "dehiba": 7, "wazen": 7, "enfidha": 8, "monastir": 8, "djerba": 9, "jerba": 9,
    "goulette": 7, "melloula": 3, "babouch": 3, "bouchebka": 2.5, "hazoua": 2,
    "sakiet": 2.5, "ghardimaou": 1.5, "sfax": 1.5, "tozeur": 1, "tabarka": 1, "gafsa": 0.5,
    "zarzis": 1, "bizerte": 0.8, "sousse": 0.8, "rades": 0.8, "gabes": 0.5,
}
# How each nationality group crosses: shares of air / sea / land, and for land which
# neighbour's border they use.
CROSSING_MODES = {
    "LBY": {"air": 18, "sea": 0, "land:LBY": 82},
    "DZA": {"air": 22, "sea": 0, "land:DZA": 78},
    "TUN": {"air": 62, "sea": 13, "land:LBY": 15, "land:DZA": 10},
    "EUROPE": {"air": 93, "sea": 7},
    "OTHER": {"air": 85, "sea": 3, "land:LBY": 8, "land:DZA": 4},
}
# Why people cross, by traveller group: Libyans come for care, Europeans on holiday, Tunisians
# living abroad to see family; the return leg of a trip is often "back to residence".
PURPOSES = {
    "LBY": {"MEDICAL": 30, "TOURISM": 30, "FAMILY": 15, "BUSINESS": 15, "EMPLOYMENT": 4, "STUDY": 3},
    "DZA": {"TOURISM": 65, "FAMILY": 15, "BUSINESS": 10, "MEDICAL": 5, "TRANSIT": 2},
    "EUROPE": {"TOURISM": 82, "BUSINESS": 8, "FAMILY": 4, "RELIGIOUS": 2, "OFFICIAL": 1, "EMPLOYMENT": 2},
    "TUN_ABROAD": {"FAMILY": 70, "TOURISM": 12, "BUSINESS": 5, "RESIDENCE": 10},
    "TUN": {"TOURISM": 30, "BUSINESS": 20, "FAMILY": 15, "EMPLOYMENT": 12, "STUDY": 8, "MEDICAL": 4,
            "RELIGIOUS": 4, "OFFICIAL": 2},
    "OTHER": {"TOURISM": 40, "BUSINESS": 20, "EMPLOYMENT": 12, "STUDY": 10, "FAMILY": 8, "TRANSIT": 6},
}
EUROPE = frozenset("FRA DEU ITA GBR RUS BEL CHE POL CZE ESP NLD AUT UKR SWE NOR DNK FIN "
                   "PRT IRL LUX HUN ROU BGR GRC SVK SVN HRV SRB MLT".split())
ARAB = frozenset("TUN LBY DZA MAR MRT EGY SDN SYR PSE LBN JOR IRQ SAU ARE QAT KWT BHR OMN "
                 "YEM SOM".split())

# Islamic holidays move about eleven days earlier each year; these anchor dates let the
# generator put the Eid travel bumps at the right place for any year.
EID_AL_FITR_2024 = (2024, 4, 10)
EID_AL_ADHA_2024 = (2024, 6, 16)
LUNAR_YEAR_DAYS = 354.367
