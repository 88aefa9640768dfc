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


@dataclass(frozen=True)
class Profile:
    """Realism hints for one dataset; every hint is optional."""
    nationalities: dict[str, float] = field(default_factory=dict)
    male_share: float = 0.55
    ages: tuple = TRAVELLER_AGES
    months: tuple = FLAT_MONTHS
    # Share of Arab nationals whose names the source writes in Arabic script.
    arabic_script: float = 0.3
    # Per field name: {code or keyword in the code's labels: weight}; unlisted codes get
    # the smallest listed weight, so nothing in the codelist is impossible.
    codes: dict[str, dict[str, float]] = field(default_factory=dict)
    # Per field name: (fewest, most) days between the two dates of a date_order rule.
    durations: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Per count field: typical monthly value for the busiest row and share of a whole.
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
        codes={"purpose": {"touris": 40, "famil": 25, "visit": 25, "business": 8, "affaire": 8,
                           "medic": 8, "sant": 8, "work": 5, "travail": 5, "stud": 3,
                           "etud": 3, "transit": 3, "other": 1, "autre": 1}},
    ),
    "residence_permits": Profile(
        nationalities={
            "FRA": 12, "ITA": 8, "MAR": 7, "DZA": 9, "LBY": 8, "CIV": 11, "CMR": 6, "MLI": 4,
            "SEN": 5, "CHN": 4, "TUR": 4, "DEU": 3, "SYR": 2, "EGY": 2, "GIN": 3, "BFA": 2,
            "COG": 2, "GAB": 2, "TCD": 2, "MRT": 2, "ESP": 2, "BEL": 2, "NGA": 1, "USA": 1,
            "RUS": 1, "UKR": 1, "GBR": 1, "PSE": 1, "JOR": 0.5, "IRQ": 0.5, "COD": 1,
        },
        male_share=0.6, ages=RESIDENT_AGES, months=ACADEMIC_MONTHS,
        codes={"permit_type": {"temp": 60, "study": 25, "etud": 25, "student": 25,
                               "ordinary": 60, "ordinaire": 60, "perm": 8, "privil": 6,
                               "family": 10, "famil": 10}},
        durations={"expiry_date": (364, 365), "valid_until": (364, 365)},
    ),
    "work_permits": Profile(
        nationalities={
            "FRA": 15, "ITA": 10, "TUR": 8, "CHN": 10, "DEU": 5, "MAR": 5, "DZA": 4, "LBY": 3,
            "CIV": 6, "CMR": 4, "SEN": 3, "ESP": 3, "BEL": 3, "EGY": 3, "SYR": 2, "IND": 2,
            "GBR": 2, "USA": 2, "JOR": 1, "PAK": 1, "BGD": 1, "PRT": 1, "NLD": 1, "RUS": 1,
        },
        male_share=0.78, ages=WORKER_AGES, months=FLAT_MONTHS,
        codes={"economic_sector": {"manufactur": 25, "industr": 25, "construct": 15, "btp": 15,
                                   "energ": 6, "mining": 4, "minier": 4, "trade": 8,
                                   "commerce": 8, "ict": 8, "inform": 8, "educat": 6,
                                   "enseign": 6, "health": 6, "sante": 6, "hotel": 6,
                                   "touris": 6, "agric": 4, "financ": 4}},
        durations={"expiry_date": (364, 730), "valid_until": (364, 730)},
    ),
    "placements_abroad": Profile(
        nationalities={"TUN": 100},
        male_share=0.8, ages=WORKER_AGES, months=FLAT_MONTHS, arabic_script=0.35,
        codes={"destination_country": {"SAU": 15, "QAT": 15, "DEU": 16, "FRA": 12, "ITA": 8,
                                       "ARE": 8, "CAN": 6, "KWT": 4, "OMN": 3, "LBY": 4,
                                       "BHR": 2, "CHE": 2, "BEL": 2, "GBR": 2, "JPN": 0.5},
               "economic_sector": {"health": 20, "sante": 20, "construct": 12, "btp": 12,
                                   "educat": 10, "enseign": 10, "ict": 10, "inform": 10,
                                   "hotel": 10, "touris": 10, "manufactur": 8, "industr": 8,
                                   "agric": 6, "transport": 5}},
    ),
    "consular_registrations": Profile(
        nationalities={"TUN": 100},
        male_share=0.55, ages=POPULATION_AGES, months=FLAT_MONTHS, arabic_script=0.4,
        codes={"country_of_residence": TUNISIANS_ABROAD, "country": TUNISIANS_ABROAD,
               "host_country": TUNISIANS_ABROAD},
    ),
    "returnees": Profile(
        nationalities={"TUN": 100},
        male_share=0.9, ages=MIGRANT_AGES, months=FLAT_MONTHS, arabic_script=0.35,
        codes={"country_of_return": {"ITA": 40, "DEU": 15, "FRA": 14, "BEL": 4, "CHE": 5,
                                     "AUT": 3, "LBY": 10, "NLD": 2, "GBR": 1, "SWE": 1},
               "return_type": {"forced": 50, "force": 50, "deport": 30, "expuls": 30,
                               "voluntar": 30, "volontaire": 30, "assisted": 20,
                               "aide": 20, "readmission": 25}},
    ),
    "asylum_refugees": Profile(
        nationalities={
            "SDN": 30, "SYR": 15, "CIV": 12, "ERI": 8, "SOM": 6, "PSE": 5, "GIN": 5, "CMR": 4,
            "YEM": 3, "ETH": 3, "IRQ": 2, "MLI": 2, "NGA": 2, "SSD": 2, "COD": 1, "TCD": 1,
            "BFA": 1, "SLE": 0.5, "LBY": 1,
        },
        male_share=0.68, ages=REFUGEE_AGES, months=FLAT_MONTHS, arabic_script=0.5,
        codes={"protection_status": {"asylum": 45, "demandeur": 45, "seeker": 45,
                                     "refugee": 40, "refugie": 40, "reject": 10,
                                     "rejet": 10, "closed": 5}},
        durations={"decision_date": (30, 400), "registration_date": (3, 200)},
    ),
    "interceptions": Profile(
        nationalities={
            "TUN": 35, "CIV": 15, "GIN": 12, "SDN": 8, "BFA": 6, "MLI": 6, "CMR": 5, "SEN": 3,
            "SYR": 2, "EGY": 2, "BGD": 2, "NGA": 2, "GMB": 1, "SLE": 1, "TCD": 1, "ERI": 0.5,
        },
        male_share=0.82, ages=MIGRANT_AGES, months=SEA_CROSSING_MONTHS,
        codes={"governorate": GOVERNORATE_INTERCEPTIONS},
        count_scale=60.0,
        part_shares={"minors": 0.12, "women": 0.09, "females": 0.09, "female": 0.09,
                     "unaccompanied_minors": 0.05, "deaths": 0.01, "dead": 0.01,
                     "missing": 0.01, "boats": 0.04},
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
EUROPE = frozenset("FRA DEU ITA GBR RUS BEL CHE POL CZE ESP NLD AUT UKR SWE NOR DNK FIN "
                   "PRT IRL LUX HUN ROU BGR GRC SVK SVN HRV SRB MLT".split())
ARAB = frozenset("TUN LBY DZA MAR MRT EGY SDN SYR PSE LBN JOR IRQ SAU ARE QAT KWT BHR OMN "
                 "YEM SOM".split())

# Islamic holidays move about eleven days earlier each year; these anchor dates let the
# generator put the Eid travel bumps at the right place for any year.
EID_AL_FITR_2024 = (2024, 4, 10)
EID_AL_ADHA_2024 = (2024, 6, 16)
LUNAR_YEAR_DAYS = 354.367
