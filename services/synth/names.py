"""Personal names for synthetic records, grouped by the naming tradition of a nationality.

Entries are "Latin|Arabic" where a name is commonly written in both scripts (Tunisian and
other Arab records come either way, and the two spellings of one person are what record
linkage has to cope with), or just "Latin". Several Latin spellings of one Arabic name
(Mohamed / Mohammed) are deliberate: that is how partner files differ.
"""
from __future__ import annotations


def _split(text: str) -> tuple[tuple[str, str | None], ...]:
    out = []
    for entry in text.strip().split(";"):
        entry = entry.strip()
        if entry:
            latin, _, arabic = entry.partition("|")
            out.append((latin.strip(), arabic.strip() or None))
    return tuple(out)


_ARAB_MALE = """
Mohamed|محمد; Mohammed|محمد; Ahmed|أحمد; Ali|علي; Youssef|يوسف; Amine|أمين; Mehdi|مهدي;
Karim|كريم; Hamza|حمزة; Walid|وليد; Sami|سامي; Bilel|بلال; Aymen|أيمن; Oussama|أسامة;
Hichem|هشام; Nabil|نبيل; Slim|سليم; Mounir|منير; Khaled|خالد; Omar|عمر; Rami|رامي;
Wassim|وسيم; Fares|فارس; Seifeddine|سيف الدين; Ghassen|غسان; Mourad|مراد; Tarek|طارق;
Adel|عادل; Habib|حبيب; Lotfi|لطفي; Mahmoud|محمود; Ibrahim|إبراهيم; Houssem|حسام;
Anis|أنيس; Riadh|رياض; Chokri|شكري; Ridha|رضا; Moez|معز; Zied|زياد; Hatem|حاتم
"""
_ARAB_FEMALE = """
Fatma|فاطمة; Fatima|فاطمة; Amira|أميرة; Mariem|مريم; Sana|سناء; Salma|سلمى; Ines|إيناس;
Rim|ريم; Nour|نور; Asma|أسماء; Leila|ليلى; Hela|هالة; Sarra|سارة; Khadija|خديجة;
Yasmine|ياسمين; Olfa|ألفة; Samia|سامية; Emna|آمنة; Wafa|وفاء; Zeineb|زينب; Houda|هدى;
Rania|رانية; Nadia|نادية; Souad|سعاد; Hanen|حنان; Meriem|مريم; Aicha|عائشة; Imen|إيمان;
Chaima|شيماء; Mouna|منى; Najla|نجلاء; Sonia|سنية; Dorra|درة; Hajer|هاجر
"""

GROUPS: dict[str, dict] = {
    "tunisia": {
        "family": _split("""
            Ben Ali|بن علي; Trabelsi|الطرابلسي; Jebali|الجبالي; Gharbi|الغربي; Mejri|الماجري;
            Ayari|العياري; Hammami|الحمامي; Chaabane|شعبان; Ben Salah|بن صالح; Khelifi|الخليفي;
            Saidi|السعيدي; Jlassi|الجلاصي; Riahi|الرياحي; Dridi|الدريدي; Mansouri|المنصوري;
            Zouari|الزواري; Karoui|القروي; Baccouche|بكوش; Ben Youssef|بن يوسف; Mabrouk|مبروك;
            Hamdi|الحامدي; Ouertani|الورتاني; Belhadj|بلحاج; Chebbi|الشابي; Ferchichi|الفرشيشي;
            Mzoughi|المزوغي; Nasri|الناصري; Hammouda|حمودة; Turki|التركي; Masmoudi|المصمودي;
            Kallel|كلال; Bouslama|بوسلامة; Ben Amor|بن عمر; Sassi|الساسي; Chaouch|شاوش;
            Letaief|لطيف; Abidi|العبيدي; Brahmi|البراهمي; Jaziri|الجزيري; Khemiri|الخميري;
            Selmi|السالمي; Guesmi|القاسمي; Ben Hassine|بن حسين; Bouzid|بوزيد; Marzouki|المرزوقي
        """),
        "male": _split(_ARAB_MALE),
        "female": _split(_ARAB_FEMALE),
    },
    "libya": {
        "family": _split("""
            Al-Werfalli|الورفلي; Al-Zintani|الزنتاني; Al-Misrati|المصراتي; Al-Obeidi|العبيدي;
            Al-Tarhouni|الترهوني; Al-Senussi|السنوسي; Al-Fitouri|الفيتوري; Al-Ghariani|الغرياني;
            Ben Hamid|بن حامد; Al-Mabrouk|المبروك; Al-Barouni|الباروني; Al-Kikhia|الكيخيا;
            Al-Mahmoudi|المحمودي; Al-Sharif|الشريف; Abushagur|أبو شاقور; Al-Gharyani|الغرياني;
            Al-Maghrebi|المغربي; Al-Tajouri|التاجوري; Al-Suwayhili|السويحلي; Al-Jadhran|الجضران
        """),
        "male": _split(_ARAB_MALE + "; Abdelsalam|عبد السلام; Faraj|فرج; Mustafa|مصطفى; Salem|سالم; Abdulhamid|عبد الحميد"),
        "female": _split(_ARAB_FEMALE + "; Naima|نعيمة; Huda|هدى; Salima|سليمة"),
    },
    "algeria": {
        "family": _split("""
            Benali|بن علي; Boudiaf|بوضياف; Belkacem|بلقاسم; Messaoudi|مسعودي; Haddad|حداد;
            Cherif|شريف; Rahmani|رحماني; Zerrouki|زروقي; Brahimi|براهيمي; Saadi|سعدي;
            Kaci|قاسي; Ait Ahmed|آيت أحمد; Benmoussa|بن موسى; Bouchareb|بوشارب; Hamidi|حميدي;
            Mebarki|مباركي; Belaid|بلعيد; Djebbar|جبار; Larbi|العربي; Guerfi|قرفي
        """),
        "male": _split(_ARAB_MALE + "; Abdelkader|عبد القادر; Rachid|رشيد; Djamel|جمال; Said|سعيد; Farid|فريد"),
        "female": _split(_ARAB_FEMALE + "; Nassima|نسيمة; Djamila|جميلة; Louisa|لويزة; Malika|مليكة"),
    },
    "morocco": {
        "family": _split("""
            El Amrani|العمراني; Benjelloun|بنجلون; Alaoui|العلوي; El Idrissi|الإدريسي; Bennani|بناني;
            Tazi|التازي; Berrada|برادة; Chraibi|الشرايبي; El Fassi|الفاسي; Ouazzani|الوزاني;
            Bakkali|البقالي; Benkirane|بنكيران; El Mansouri|المنصوري; Lahlou|لحلو; Naciri|الناصري
        """),
        "male": _split(_ARAB_MALE + "; Hassan|حسن; Rachid|رشيد; Abdellah|عبد الله; Driss|إدريس"),
        "female": _split(_ARAB_FEMALE + "; Hafsa|حفصة; Ghizlane|غزلان; Loubna|لبنى; Btissam|ابتسام"),
    },
    "mashreq": {  # Syria, Palestine, Lebanon, Jordan, Iraq, Egypt, Gulf, Yemen
        "family": _split("""
            Al-Hassan|الحسن; Haddad|حداد; Khoury|خوري; Al-Ahmad|الأحمد; Nasser|ناصر; Darwish|درويش;
            Barakat|بركات; Saleh|صالح; Hamdan|حمدان; Abdallah|عبد الله; Mahmoud|محمود;
            Al-Khatib|الخطيب; Othman|عثمان; Abbas|عباس; El-Sayed|السيد; Mostafa|مصطفى;
            Ibrahim|إبراهيم; Fahmy|فهمي; Al-Masri|المصري; Qasim|قاسم; Al-Halabi|الحلبي;
            Zaher|زاهر; Awad|عوض; Shalaby|شلبي; Al-Jaber|الجابر
        """),
        "male": _split(_ARAB_MALE + "; Hussein|حسين; Jamal|جمال; Bassam|بسام; Majd|مجد; Yazan|يزن"),
        "female": _split(_ARAB_FEMALE + "; Rasha|رشا; Dima|ديما; Lina|لينا; Hiba|هبة; Ruba|ربى"),
    },
    "sudan": {
        "family": _split("""
            Osman|عثمان; Abdelrahman|عبد الرحمن; Elamin|الأمين; Adam|آدم; Ishag|إسحاق;
            Elhassan|الحسن; Babiker|بابكر; Suleiman|سليمان; Yagoub|يعقوب; Elnour|النور;
            Abakar|أبكر; Hamid|حامد; Eltayeb|الطيب; Musa|موسى; Idris|إدريس; Khamis|خميس
        """),
        "male": _split("""
            Mohamed|محمد; Ahmed|أحمد; Omer|عمر; Osman|عثمان; Abdalla|عبد الله; Mujahid|مجاهد;
            Hassan|حسن; Elsadig|الصادق; Ibrahim|إبراهيم; Yousif|يوسف; Adam|آدم; Mustafa|مصطفى;
            Abdelaziz|عبد العزيز; Haroun|هارون; Ismail|إسماعيل
        """),
        "female": _split("""
            Fatima|فاطمة; Amna|آمنة; Hawa|حواء; Zeinab|زينب; Mariam|مريم; Khadija|خديجة;
            Nafisa|نفيسة; Halima|حليمة; Sara|سارة; Rabab|رباب; Samah|سماح; Ikhlas|إخلاص
        """),
    },
    "west_africa": {  # francophone West Africa and the Sahel
        "family": _split("""
            Kouassi; Koné; Traoré; Diallo; Coulibaly; Ouattara; Diop; Ndiaye; Fall; Sow; Keita;
            Camara; Bamba; Yao; Konaté; Sanogo; Sylla; Bah; Barry; Touré; Cissé; Diabaté;
            Kaboré; Ouédraogo; Sawadogo; Zongo; Compaoré; Kouamé; Koffi; N'Guessan; Soumah;
            Condé; Dembélé; Doumbia; Maïga; Sidibé; Gueye; Faye; Ba; Seck
        """),
        "male": _split("""
            Mamadou; Moussa; Ibrahim; Souleymane; Abdoulaye; Seydou; Bakary; Issa; Yacouba; Adama;
            Lamine; Ousmane; Jean; Serge; Arsène; Didier; Franck; Cheick; Boubacar; Alpha;
            Sékou; Amadou; Modibo; Idrissa; Yves; Hervé; Koffi; Kouadio; Mohamed; Lassina
        """),
        "female": _split("""
            Aminata; Fatoumata; Mariam; Awa; Aïssata; Kadiatou; Christelle; Grâce; Esther; Adjoua;
            Affoué; Rokia; Binta; Ramatoulaye; Aïcha; Salimata; Djeneba; Nafissatou; Mariama;
            Assita; Prisca; Bintou; Oumou
        """),
    },
    "central_africa": {
        "family": _split("""
            Mbarga; Nkoulou; Etoundi; Fotso; Tchoupo; Ngono; Essomba; Nguema; Mahamat; Idriss;
            Kamga; Tchinda; Mouko; Mbemba; Kabila; Lukaku; Ngoy; Mbappe; Nana; Onana; Abakar;
            Djimet; Moussa; Ekotto
        """),
        "male": _split("""
            Jean; Paul; Serge; Patrick; Hervé; Christian; Boris; Junior; Cédric; Aristide;
            Brice; Landry; Mahamat; Abakar; Idriss; Emmanuel; Blaise; Rodrigue; Fabrice
        """),
        "female": _split("""
            Christelle; Grâce; Esther; Sandrine; Laure; Nadège; Brigitte; Mireille; Carine;
            Prisca; Falone; Gisèle; Achta; Khadidja; Merveille; Ornella
        """),
    },
    "anglo_africa": {  # Nigeria, Ghana, Sierra Leone, Liberia, Gambia
        "family": _split("""
            Okafor; Adeyemi; Mensah; Owusu; Boateng; Okonkwo; Eze; Adebayo; Asante; Nwosu;
            Ogunleye; Appiah; Danso; Kamara; Conteh; Jallow; Ceesay; Sesay; Johnson; Doe
        """),
        "male": _split("Chinedu; Emeka; Kwame; Kofi; Samuel; Daniel; Ibrahim; Musa; Tunde; Yaw; Kwabena; Lamin; Ebrima; Mohammed; Joseph"),
        "female": _split("Grace; Blessing; Abena; Akosua; Chioma; Ngozi; Fatou; Isatou; Mary; Esther; Joy; Adwoa; Aminata"),
    },
    "horn": {  # Eritrea, Ethiopia
        "family": _split("Tesfaye; Ghebremedhin; Tekle; Haile; Berhane; Yohannes; Kidane; Gebru; Tesfamariam; Mebrahtu; Asfaw; Alemu; Woldemariam; Habte"),
        "male": _split("Semere; Yonas; Filmon; Daniel; Mulugeta; Tewelde; Biniam; Dawit; Samuel; Abel; Henok; Robel"),
        "female": _split("Senait; Helen; Ruta; Selam; Saba; Meron; Luwam; Freweyni; Tsega; Hiwet; Mekdes"),
    },
    "somalia": {
        "family": _split("Mohamed|محمد; Abdi|عبدي; Hassan|حسن; Farah|فارح; Warsame|وارسامي; Ali|علي; Omar|عمر; Hussein|حسين; Jama|جامع; Aden|عدن; Nur|نور; Ahmed|أحمد"),
        "male": _split("Abdirahman|عبد الرحمن; Ahmed|أحمد; Mohamed|محمد; Abdullahi|عبد الله; Mustafe|مصطفى; Said|سعيد; Yusuf|يوسف; Abdiaziz|عبد العزيز"),
        "female": _split("Hodan|هودان; Fadumo|فاطمة; Ayan|أيان; Amina|أمينة; Sahra|سهرة; Hawa|حواء; Ifrah|إفراح; Nasra|نصرة"),
    },
    "france": {
        "family": _split("""
            Martin; Bernard; Dubois; Thomas; Robert; Richard; Petit; Durand; Leroy; Moreau;
            Lefèvre; Girard; Faure; Roux; Fournier; Lambert; Bonnet; François; Mercier; Garnier;
            Chevalier; Rousseau; Blanc; Guérin; Muller; Henry; Perrin; Morel; Mathieu; Clément
        """),
        "male": _split("Jean; Pierre; Nicolas; Julien; Thomas; François; Philippe; Michel; Laurent; Sébastien; Antoine; Hugo; Louis; Mathieu; Olivier; Stéphane; Jérôme; Benoît"),
        "female": _split("Camille; Marie; Sophie; Julie; Léa; Hélène; Émilie; Cécile; Nathalie; Isabelle; Chloé; Manon; Céline; Valérie; Aurélie; Anne; Élodie; Margaux"),
    },
    "italy": {
        "family": _split("Rossi; Russo; Ferrari; Esposito; Bianchi; Romano; Colombo; Ricci; Marino; Greco; Bruno; Gallo; Conti; De Luca; Mancini; Costa; Giordano; Rizzo; Lombardi; Moretti"),
        "male": _split("Marco; Luca; Giuseppe; Francesco; Alessandro; Andrea; Matteo; Lorenzo; Davide; Salvatore; Antonio; Giovanni; Paolo; Stefano"),
        "female": _split("Giulia; Francesca; Chiara; Sara; Martina; Valentina; Alessia; Elena; Federica; Silvia; Paola; Anna; Roberta"),
    },
    "germany": {
        "family": _split("Müller; Schmidt; Schneider; Fischer; Weber; Meyer; Wagner; Becker; Schulz; Hoffmann; Schäfer; Koch; Bauer; Richter; Klein; Wolf; Schröder; Neumann; Zimmermann; Braun"),
        "male": _split("Lukas; Jonas; Felix; Stefan; Andreas; Jürgen; Thomas; Michael; Klaus; Wolfgang; Tobias; Florian; Maximilian; Uwe; Dirk"),
        "female": _split("Anna; Lena; Julia; Katharina; Sabine; Petra; Claudia; Monika; Laura; Sarah; Jana; Ursula; Birgit; Anke"),
    },
    "britain": {
        "family": _split("Smith; Jones; Williams; Taylor; Brown; Davies; Evans; Wilson; Thomas; Johnson; Roberts; Walker; Wright; Robinson; Thompson; White; Hughes; Edwards; Green; Hall"),
        "male": _split("James; Oliver; Jack; Harry; George; William; David; John; Richard; Paul; Mark; Daniel; Thomas; Christopher"),
        "female": _split("Emily; Olivia; Sophie; Charlotte; Amelia; Jessica; Sarah; Emma; Hannah; Lucy; Rebecca; Elizabeth; Claire"),
    },
    "russia": {  # family names take the feminine ending for women, see feminine()
        "family": _split("Ivanov; Smirnov; Kuznetsov; Popov; Vasiliev; Petrov; Sokolov; Mikhailov; Novikov; Fedorov; Morozov; Volkov; Alekseev; Lebedev; Semenov; Egorov; Pavlov; Kozlov"),
        "male": _split("Alexander; Dmitry; Sergey; Andrey; Ivan; Alexey; Mikhail; Nikolai; Vladimir; Pavel; Igor; Yuri; Oleg"),
        "female": _split("Elena; Olga; Tatiana; Natalia; Anna; Irina; Svetlana; Maria; Ekaterina; Yulia; Anastasia; Marina"),
        "feminine_suffix": "a",
    },
    "iberia": {
        "family": _split("García; Fernández; González; Rodríguez; López; Martínez; Sánchez; Pérez; Gómez; Martín; Silva; Santos; Ferreira; Pereira; Costa; Oliveira"),
        "male": _split("Javier; Carlos; José; Antonio; Manuel; David; Pablo; Miguel; João; Pedro; Rui; Sergio"),
        "female": _split("María; Lucía; Carmen; Ana; Laura; Marta; Paula; Sofía; Inês; Beatriz; Cristina"),
    },
    "central_europe": {  # Belgium, Netherlands, Switzerland, Austria, Nordics, Poland, Czechia...
        "family": _split("De Vries; Janssens; Peeters; Jansen; Bakker; Nowak; Kowalski; Novák; Svoboda; Andersson; Johansson; Nielsen; Hansen; Meier; Keller; Huber; Gruber; Weiss; Wójcik; Kovács"),
        "male": _split("Jan; Peter; Lars; Erik; Piotr; Tomasz; Martin; Pieter; Thomas; Lukas; Marc; Johan; Mikkel; Daan"),
        "female": _split("Anna; Eva; Maria; Sofie; Emma; Katarzyna; Agnieszka; Ingrid; Sanne; Lotte; Tereza; Nina; Julia"),
    },
    "china": {
        "family": _split("Wang; Li; Zhang; Liu; Chen; Yang; Huang; Zhao; Wu; Zhou; Xu; Sun; Ma; Zhu; Hu; Guo"),
        "male": _split("Wei; Lei; Jun; Hao; Tao; Qiang; Jie; Yong; Ming; Bo; Peng; Hui; Gang; Chao"),
        "female": _split("Fang; Jing; Min; Xiu Ying; Yan; Li; Na; Xia; Juan; Ying; Hong; Mei; Lan"),
    },
    "turkey": {
        "family": _split("Yılmaz; Kaya; Demir; Şahin; Çelik; Yıldız; Yıldırım; Öztürk; Aydın; Özdemir; Arslan; Doğan; Kılıç; Aslan; Çetin; Koç"),
        "male": _split("Mehmet; Mustafa; Ahmet; Ali; Hüseyin; Hasan; İbrahim; Murat; Emre; Burak; Osman; Yusuf"),
        "female": _split("Zeynep; Elif; Ayşe; Fatma; Emine; Hatice; Merve; Büşra; Esra; Özlem; Derya"),
    },
    "americas": {
        "family": _split("Smith; Johnson; Brown; Miller; Davis; Tremblay; Gagnon; Roy; Côté; Rodríguez; Hernández; Da Silva; Souza"),
        "male": _split("Michael; John; Robert; David; Daniel; Luc; Marc; Gabriel; Juan; Carlos; Lucas"),
        "female": _split("Jennifer; Jessica; Ashley; Sarah; Julie; Isabelle; Mélanie; María; Ana; Camila"),
    },
    "south_asia": {
        "family": _split("Khan; Ahmed; Hussain; Ali; Sharma; Singh; Patel; Kumar; Rahman; Islam; Hossain; Chaudhry"),
        "male": _split("Muhammad; Imran; Asif; Rahul; Amit; Raj; Sanjay; Abdul; Tariq; Faisal; Rafiq"),
        "female": _split("Ayesha; Fatima; Priya; Sunita; Nasreen; Sadia; Anjali; Shabnam; Rukhsana"),
    },
}

# Which naming tradition a nationality follows; anything unlisted uses DEFAULT_GROUP.
NATIONALITY_GROUP: dict[str, str] = {
    "TUN": "tunisia", "LBY": "libya", "DZA": "algeria", "MAR": "morocco", "MRT": "morocco",
    **{c: "mashreq" for c in ("SYR", "PSE", "LBN", "JOR", "IRQ", "EGY", "SAU", "ARE", "QAT",
                              "KWT", "BHR", "OMN", "YEM")},
    "SDN": "sudan", "SSD": "sudan", "TCD": "central_africa",
    **{c: "west_africa" for c in ("CIV", "SEN", "MLI", "GIN", "BFA", "NER", "BEN", "TGO",
                                  "GNB", "CPV")},
    **{c: "central_africa" for c in ("CMR", "GAB", "COG", "COD", "CAF", "GNQ", "RWA", "BDI")},
    **{c: "anglo_africa" for c in ("NGA", "GHA", "SLE", "LBR", "GMB", "KEN", "UGA", "ZAF")},
    "ERI": "horn", "ETH": "horn", "SOM": "somalia", "DJI": "somalia",
    "FRA": "france", "BEL": "france", "LUX": "france", "MCO": "france",
    "ITA": "italy", "MLT": "italy", "DEU": "germany", "AUT": "germany",
    "GBR": "britain", "IRL": "britain", "AUS": "britain", "NZL": "britain",
    "RUS": "russia", "UKR": "russia", "BLR": "russia", "KAZ": "russia",
    "ESP": "iberia", "PRT": "iberia", "BRA": "americas",
    **{c: "central_europe" for c in ("NLD", "CHE", "POL", "CZE", "SVK", "HUN", "SWE", "NOR",
                                     "DNK", "FIN", "ROU", "BGR", "HRV", "SRB", "GRC")},
    "CHN": "china", "TWN": "china", "TUR": "turkey",
    "USA": "americas", "CAN": "americas", "MEX": "americas", "ARG": "americas",
    "PAK": "south_asia", "IND": "south_asia", "BGD": "south_asia", "AFG": "south_asia",
}
DEFAULT_GROUP = "britain"


def feminine(group: dict, family: str) -> str:
    """Slavic family names agree with the bearer's sex (Ivanov / Ivanova)."""
    suffix = group.get("feminine_suffix")
    return family + suffix if suffix and family.endswith(("ov", "ev", "in")) else family


# Company names for employer fields, mixing Tunisian firms' styles and multinationals.
EMPLOYERS = _split("""
    Société Tunisienne de Textile; Sfax Oliviers SARL; Groupe Poulina; Tunisie Télécom;
    Medina Construction; Carthage Cement; STEG; Clinique Les Oliviers; Hôtel El Mouradi;
    Sousse Tech SA; Office des Céréales; Leoni Tunisie; Yazaki Tunisia; Sagemcom Tunisie;
    Dräxlmaier Tunisie; Université de Tunis El Manar; Orange Tunisie; Vermeg;
    Qatar Airways; Al Habtoor Group; Saudi Oger; Vinci Construction; Bouygues Bâtiment;
    Ospedale San Raffaele; Deutsche Bahn; Hôpital Saint-Louis; Nestlé; Accor Hotels
""")
CITIES = _split("""
    Tunis|تونس; Sfax|صفاقس; Sousse|سوسة; Kairouan|القيروان; Bizerte|بنزرت; Gabès|قابس;
    Ariana|أريانة; Gafsa|قفصة; Monastir|المنستير; Nabeul|نابل; Médenine|مدنين; Tataouine|تطاوين;
    Paris; Marseille; Lyon; Milano; Roma; Palermo; Berlin; Bruxelles; Montréal;
    Tripoli|طرابلس; Alger|الجزائر; Abidjan; Dakar; Bamako; Douala; Khartoum|الخرطوم
""")
# Occupations as (French, Arabic, ISCO-08 code, ISIC sections where they are common).
OCCUPATIONS = (
    ("Médecin", "طبيب", "2211", "Q"), ("Infirmier", "ممرض", "2221", "Q"),
    ("Aide-soignant", "مساعد تمريض", "5321", "Q"), ("Ingénieur civil", "مهندس مدني", "2142", "FM"),
    ("Ingénieur mécanique", "مهندس ميكانيك", "2144", "CDM"), ("Développeur informatique", "مطور برمجيات", "2512", "JM"),
    ("Technicien supérieur", "تقني سامي", "3115", "CDB"), ("Maçon", "بناء", "7112", "F"),
    ("Soudeur", "لحام", "7212", "CF"), ("Électricien", "كهربائي", "7411", "FD"),
    ("Mécanicien automobile", "ميكانيكي سيارات", "7231", "GH"), ("Chauffeur poids lourd", "سائق شاحنة", "8332", "H"),
    ("Ouvrier du bâtiment", "عامل بناء", "9313", "F"), ("Ouvrier agricole", "عامل فلاحي", "9211", "A"),
    ("Cuisinier", "طباخ", "5120", "I"), ("Serveur", "نادل", "5131", "I"),
    ("Enseignant", "أستاذ", "2330", "P"), ("Enseignant universitaire", "أستاذ جامعي", "2310", "P"),
    ("Comptable", "محاسب", "2411", "KMG"), ("Commerçant", "تاجر", "5221", "G"),
    ("Ouvrier textile", "عامل نسيج", "8153", "C"), ("Opérateur câblage", "عامل تركيب أسلاك", "7421", "C"),
    ("Employé de maison", "عاملة منزلية", "9111", "T"), ("Agent de nettoyage", "عون تنظيف", "9112", "NS"),
    ("Directeur d'entreprise", "مدير مؤسسة", "1120", "CGKMJ"), ("Cadre commercial", "إطار تجاري", "1221", "GC"),
    ("Agent de sécurité", "عون حراسة", "5414", "N"), ("Pêcheur", "بحار", "6222", "A"),
    ("Coiffeur", "حلاق", "5141", "S"), ("Étudiant", "طالب", "", ""),
)
ASSISTING_ORGANISATIONS = ("OIM Tunisie", "IOM", "OFII", "GIZ", "ICMPD", "Croissant-Rouge tunisien",
                           "Office des Tunisiens à l'Étranger", "Caritas")
# Tunisian consular posts abroad by country of residence (the city, as registers write it).
CONSULATES = {
    "FRA": ("Paris", "Pantin", "Marseille", "Lyon", "Nice", "Toulouse", "Strasbourg", "Grenoble"),
    "ITA": ("Rome", "Milan", "Palerme", "Naples", "Gênes"), "DEU": ("Berlin", "Bonn", "Munich", "Düsseldorf", "Hambourg"),
    "BEL": ("Bruxelles",), "NLD": ("La Haye",), "CHE": ("Berne", "Genève"), "AUT": ("Vienne",),
    "GBR": ("Londres",), "SWE": ("Stockholm",), "ESP": ("Madrid",), "CAN": ("Ottawa", "Montréal"),
    "USA": ("Washington",), "LBY": ("Tripoli", "Benghazi"), "DZA": ("Alger", "Annaba", "Tébessa"),
    "MAR": ("Rabat", "Casablanca"), "EGY": ("Le Caire",), "SAU": ("Riyad", "Djeddah"), "QAT": ("Doha",),
    "ARE": ("Abou Dhabi", "Dubaï"), "KWT": ("Koweït",), "OMN": ("Mascate",), "BHR": ("Manama",),
    "TUR": ("Ankara", "Istanbul"), "JOR": ("Amman",), "LBN": ("Beyrouth",),
}
