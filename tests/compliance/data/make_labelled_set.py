"""Builds the labelled screening set deterministically (seeded): a watchlist in OFAC's CSV layout
(labelled_sdn.csv, labelled_alt.csv, labelled_add.csv, headerless as OFAC ships them) and
labelled_queries.csv (query_id, full_name, dob, country, client_type, kind, expected): `expected`
is the ent_num that must alert, empty when nothing may.

Kinds with a listed party to find: exact (word order as the client types it), case_punct,
particles, diacritics, script (the name in its own script), translit (another Latin
transliteration), missing_part (middle name, patronymic or second surname left out), initials,
typo, lookalike (letters of another script inside the Latin name), alias, company_form, dob_slip (the
name with its birth date mistyped: a digit of the day, day and month swapped, or the year one out).
Kinds where nothing may alert: neg_surname (a listed surname with another given name),
neg_patronymic, neg_company (another distinctive word), neg_dob (the name, but a DOB that
contradicts every listed one by more than a slip of the keyboard), neg_weak_alias (a weak alias's words inside a longer other name),
ordinary (1,000 clients of the same cultures who are not listed).

Native-script names are written here by hand, each with the spelling the lists use for it; the
product transliterates, this file only labels.

Run: python tests/compliance/data/make_labelled_set.py
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

from anyascii import anyascii

HERE = Path(__file__).resolve().parent
SEED = 34

# culture: (given names [(latin, native)], surnames [(latin, native)], country, variants)
# Variants: other Latin transliterations of a listed spelling.
RU_GIVEN = [("Sergey", "Сергей"), ("Aleksandr", "Александр"), ("Dmitriy", "Дмитрий"), ("Andrey", "Андрей"),
            ("Aleksey", "Алексей"), ("Vladimir", "Владимир"), ("Nikolay", "Николай"), ("Igor", "Игорь"),
            ("Yevgeniy", "Евгений"), ("Mikhail", "Михаил"), ("Oleg", "Олег"), ("Viktor", "Виктор"),
            ("Pavel", "Павел"), ("Yuriy", "Юрий"), ("Anatoliy", "Анатолий"), ("Boris", "Борис"),
            ("Konstantin", "Константин"), ("Roman", "Роман"), ("Ivan", "Иван"), ("Gennadiy", "Геннадий"),
            ("Arkadiy", "Аркадий"), ("Maksim", "Максим"), ("Timur", "Тимур"), ("Stanislav", "Станислав")]
RU_SURNAME = [("Ivanov", "Иванов"), ("Smirnov", "Смирнов"), ("Kuznetsov", "Кузнецов"), ("Popov", "Попов"),
              ("Volkov", "Волков"), ("Sokolov", "Соколов"), ("Lebedev", "Лебедев"), ("Kozlov", "Козлов"),
              ("Novikov", "Новиков"), ("Morozov", "Морозов"), ("Petrov", "Петров"), ("Fedorov", "Федоров"),
              ("Orlov", "Орлов"), ("Zaytsev", "Зайцев"), ("Belov", "Белов"), ("Medvedev", "Медведев"),
              ("Vasilyev", "Васильев"), ("Romanov", "Романов"), ("Rotenberg", "Ротенберг"),
              ("Timchenko", "Тимченко"), ("Kovalchuk", "Ковальчук"), ("Sechin", "Сечин"), ("Chemezov", "Чемезов"),
              ("Shoygu", "Шойгу"), ("Grigoryev", "Григорьев"), ("Tkachev", "Ткачев")]
RU_PATRONYMIC = [("Sergeyevich", "Сергеевич"), ("Aleksandrovich", "Александрович"), ("Vladimirovich", "Владимирович"),
                 ("Nikolayevich", "Николаевич"), ("Igorevich", "Игоревич"), ("Viktorovich", "Викторович"),
                 ("Borisovich", "Борисович"), ("Ivanovich", "Иванович"), ("Pavlovich", "Павлович"),
                 ("Mikhaylovich", "Михайлович"), ("Olegovich", "Олегович"), ("Yuryevich", "Юрьевич")]
AR_GIVEN = [("Mohammed", "محمد"), ("Ahmed", "أحمد"), ("Ali", "علي"), ("Hassan", "حسن"), ("Hussein", "حسين"),
            ("Omar", "عمر"), ("Khalid", "خالد"), ("Ibrahim", "إبراهيم"), ("Yousef", "يوسف"), ("Mahmoud", "محمود"),
            ("Mustafa", "مصطفى"), ("Saeed", "سعيد"), ("Tariq", "طارق"), ("Hamza", "حمزة"), ("Nasser", "ناصر"),
            ("Faisal", "فيصل"), ("Sami", "سامي"), ("Karim", "كريم"), ("Walid", "وليد"), ("Adnan", "عدنان"),
            ("Jamal", "جمال"), ("Bilal", "بلال"), ("Rashid", "راشد"), ("Ziad", "زياد")]
AR_SURNAME = [("al-Rashid", "الرشيد"), ("al-Masri", "المصري"), ("Haddad", "حداد"), ("al-Tikriti", "التكريتي"),
              ("Nasrallah", "نصرالله"), ("al-Zawahiri", "الظواهري"), ("Khalil", "خليل"), ("al-Saadi", "السعدي"),
              ("Mansour", "منصور"), ("al-Amin", "الأمين"), ("Hamdan", "حمدان"), ("al-Jabouri", "الجبوري"),
              ("Darwish", "درويش"), ("al-Shami", "الشامي"), ("Suleiman", "سليمان"), ("al-Hashimi", "الهاشمي"),
              ("Qasim", "قاسم"), ("Aziz", "عزيز"), ("al-Obeidi", "العبيدي"), ("Barakat", "بركات"),
              ("al-Qahtani", "القحطاني"), ("Othman", "عثمان")]
FA_GIVEN = [("Mohammad", "محمد"), ("Reza", "رضا"), ("Ali", "علی"), ("Hossein", "حسین"), ("Mehdi", "مهدی"),
            ("Ahmad", "احمد"), ("Hamid", "حمید"), ("Javad", "جواد"), ("Mahmoud", "محمود"), ("Abbas", "عباس"),
            ("Majid", "مجید"), ("Saeed", "سعید"), ("Mojtaba", "مجتبی"), ("Ghasem", "قاسم"), ("Esmail", "اسماعیل"),
            ("Behrouz", "بهروز"), ("Dariush", "داریوش"), ("Farhad", "فرهاد")]
FA_SURNAME = [("Hosseini", "حسینی"), ("Ahmadi", "احمدی"), ("Mohammadi", "محمدی"), ("Rezaei", "رضایی"),
              ("Karimi", "کریمی"), ("Moradi", "مرادی"), ("Jafari", "جعفری"), ("Rahimi", "رحیمی"),
              ("Sadeghi", "صادقی"), ("Ghorbani", "قربانی"), ("Soleimani", "سلیمانی"), ("Salehi", "صالحی"),
              ("Shirazi", "شیرازی"), ("Tehrani", "تهرانی"), ("Rostami", "رستمی"), ("Nazari", "نظری"),
              ("Kazemi", "کاظمی"), ("Bagheri", "باقری")]
ZH_SURNAME = [("Wang", "王"), ("Li", "李"), ("Zhang", "张"), ("Liu", "刘"), ("Chen", "陈"), ("Yang", "杨"),
              ("Huang", "黄"), ("Zhao", "赵"), ("Zhou", "周"), ("Wu", "吴"), ("Xu", "徐"), ("Sun", "孙"),
              ("Ma", "马"), ("Zhu", "朱"), ("Hu", "胡"), ("Guo", "郭"), ("Lin", "林"), ("He", "何"),
              ("Gao", "高"), ("Luo", "罗")]
ZH_GIVEN = [("Wei", "伟"), ("Jianguo", "建国"), ("Xiaoming", "小明"), ("Jun", "军"), ("Lei", "磊"), ("Yong", "勇"),
            ("Jie", "杰"), ("Tao", "涛"), ("Ming", "明"), ("Chao", "超"), ("Hua", "华"), ("Ping", "平"),
            ("Gang", "刚"), ("Hui", "辉"), ("Qiang", "强"), ("Lijun", "丽君"), ("Xiaohong", "小红"),
            ("Yan", "燕"), ("Jing", "静"), ("Zhiqiang", "志强"), ("Haiyan", "海燕"), ("Dongsheng", "东升"),
            ("Wenjie", "文杰"), ("Jianhua", "建华")]
KO_SURNAME = [("Kim", "김"), ("Pak", "박"), ("Ri", "리"), ("Choe", "최"), ("Jang", "장"), ("Han", "한"),
              ("Kang", "강"), ("Jo", "조"), ("Yun", "윤"), ("Hong", "홍"), ("Song", "송"), ("Jon", "전")]
KO_GIVEN = [("Chol Su", "철수"), ("Song Il", "성일"), ("Yong Nam", "영남"), ("Myong Hak", "명학"),
            ("Kwang Ho", "광호"), ("Jong Chol", "정철"), ("Tae Song", "태성"), ("Un Chol", "은철"),
            ("Kyong Hui", "경희"), ("Yong Chol", "영철"), ("Chang Ho", "창호"), ("Myong Su", "명수"),
            ("Hyon U", "현우"), ("Sok Chol", "석철"), ("Il Nam", "일남")]
EL_GIVEN = [("Georgios", "Γεώργιος"), ("Nikolaos", "Νικόλαος"), ("Konstantinos", "Κωνσταντίνος"),
            ("Dimitrios", "Δημήτριος"), ("Ioannis", "Ιωάννης"), ("Panagiotis", "Παναγιώτης"),
            ("Vasileios", "Βασίλειος"), ("Christos", "Χρήστος"), ("Athanasios", "Αθανάσιος"),
            ("Andreas", "Ανδρέας"), ("Michail", "Μιχαήλ"), ("Spyridon", "Σπυρίδων"), ("Eleni", "Ελένη"),
            ("Stavros", "Σταύρος"), ("Petros", "Πέτρος")]
EL_SURNAME = [("Papadopoulos", "Παπαδόπουλος"), ("Papadakis", "Παπαδάκης"), ("Georgiou", "Γεωργίου"),
              ("Oikonomou", "Οικονόμου"), ("Karagiannis", "Καραγιάννης"), ("Vlachos", "Βλάχος"),
              ("Makris", "Μακρής"), ("Dimitriou", "Δημητρίου"), ("Pappas", "Παππάς"), ("Antoniou", "Αντωνίου"),
              ("Konstantinidis", "Κωνσταντινίδης"), ("Alexiou", "Αλεξίου"), ("Angelopoulos", "Αγγελόπουλος"),
              ("Nikolaou", "Νικολάου"), ("Stavrou", "Σταύρου")]
UK_GIVEN = [("Oleksandr", "Олександр"), ("Mykola", "Микола"), ("Vasyl", "Василь"), ("Andriy", "Андрій"),
            ("Serhiy", "Сергій"), ("Volodymyr", "Володимир"), ("Taras", "Тарас"), ("Yuriy", "Юрій"),
            ("Petro", "Петро"), ("Bohdan", "Богдан"), ("Viktor", "Віктор"), ("Ihor", "Ігор")]
UK_SURNAME = [("Shevchenko", "Шевченко"), ("Kovalenko", "Коваленко"), ("Bondarenko", "Бондаренко"),
              ("Tkachenko", "Ткаченко"), ("Kravchenko", "Кравченко"), ("Melnyk", "Мельник"), ("Oliynyk", "Олійник"),
              ("Lysenko", "Лисенко"), ("Marchenko", "Марченко"), ("Rudenko", "Руденко"), ("Savchenko", "Савченко"),
              ("Yanukovych", "Янукович"), ("Medvedchuk", "Медведчук")]

LATIN = {
    "de": ([("Hans",), ("Jürgen",), ("Klaus",), ("Wolfgang",), ("Günter",), ("Stefan",), ("Matthias",), ("Jörg",),
            ("Uwe",), ("Dieter",), ("Rüdiger",), ("Thomas",), ("Andreas",), ("Michael",), ("Markus",)],
           [("Müller",), ("Schröder",), ("Schäfer",), ("Köhler",), ("Weiß",), ("Groß",), ("Böhm",), ("Krüger",),
            ("Hoffmann",), ("Fischer",), ("Wagner",), ("Becker",), ("Zimmermann",), ("Schulze",), ("Bäcker",),
            ("Vogel",), ("Jäger",), ("Möller",)], "DE"),
    "tr": ([("Mehmet",), ("Mustafa",), ("Ahmet",), ("İbrahim",), ("Hüseyin",), ("Hasan",), ("İsmail",), ("Osman",),
            ("Yusuf",), ("Murat",), ("Ömer",), ("Kadir",), ("Şükrü",), ("Çağlar",), ("Gökhan",)],
           [("Yılmaz",), ("Kaya",), ("Demir",), ("Şahin",), ("Çelik",), ("Yıldız",), ("Yıldırım",), ("Öztürk",),
            ("Aydın",), ("Özdemir",), ("Arslan",), ("Doğan",), ("Kılıç",), ("Aslan",), ("Çetin",), ("Koç",),
            ("Kurt",), ("Özkan",)], "TR"),
    "pl": ([("Łukasz",), ("Paweł",), ("Michał",), ("Krzysztof",), ("Tomasz",), ("Piotr",), ("Grzegorz",),
            ("Wojciech",), ("Jarosław",), ("Zbigniew",), ("Mirosław",), ("Andrzej",)],
           [("Wójcik",), ("Kowalczyk",), ("Zieliński",), ("Woźniak",), ("Dąbrowski",), ("Kozłowski",),
            ("Jankowski",), ("Mazur",), ("Wojciechowski",), ("Kwiatkowski",), ("Krawczyk",), ("Piotrowski",),
            ("Grabowski",), ("Nowakowski",), ("Pawłowski",), ("Michalski",), ("Wróbel",), ("Sikora",)], "PL"),
    "vi": ([("Văn Hùng",), ("Thị Lan",), ("Minh Tuấn",), ("Quốc Bảo",), ("Đức Anh",), ("Hoàng Nam",), ("Thanh Hương",),
            ("Văn Đức",), ("Ngọc Ánh",), ("Tiến Dũng",), ("Hữu Phước",), ("Thành Long",)],
           [("Nguyễn",), ("Trần",), ("Lê",), ("Phạm",), ("Hoàng",), ("Huỳnh",), ("Phan",), ("Vũ",), ("Võ",),
            ("Đặng",), ("Bùi",), ("Đỗ",), ("Hồ",), ("Ngô",), ("Dương",)], "VN"),
    "es": ([("José María",), ("Juan Carlos",), ("Luis",), ("Miguel Ángel",), ("Jesús",), ("Javier",), ("Francisco",),
            ("Alejandro",), ("Rafael",), ("Fernando",), ("Ramón",), ("Héctor",), ("Joaquín",)],
           [("García López",), ("Rodríguez Pérez",), ("Martínez Sánchez",), ("Hernández Gómez",),
            ("Fernández Díaz",), ("González Ruiz",), ("Jiménez Moreno",), ("Álvarez Muñoz",), ("Romero Navarro",),
            ("Ortega Castro",), ("Guzmán Loera",), ("Zambada García",), ("Caro Quintero",), ("Cárdenas Guillén",)],
           "MX"),
    "nl": ([("Jan",), ("Pieter",), ("Willem",), ("Hendrik",), ("Cornelis",), ("Johannes",), ("Dirk",), ("Maarten",),
            ("Bram",), ("Joost",), ("Sander",)],
           [("van der Berg",), ("de Vries",), ("van den Heuvel",), ("van Dijk",), ("de Jong",), ("van der Linden",),
            ("de Boer",), ("van Leeuwen",), ("ter Horst",), ("van der Meer",), ("de Graaf",), ("van Beek",)], "NL"),
    "en": ([("John",), ("Michael",), ("David",), ("James",), ("Robert",), ("William",), ("Richard",), ("Thomas",),
            ("Christopher",), ("Daniel",), ("Matthew",), ("Anthony",), ("Mark",), ("Steven",), ("Paul",),
            ("Andrew",), ("Kenneth",), ("George",)],
           [("Smith",), ("Johnson",), ("Williams",), ("Brown",), ("Jones",), ("Miller",), ("Davis",), ("Wilson",),
            ("Anderson",), ("Taylor",), ("Thomas",), ("Moore",), ("Martin",), ("Thompson",), ("White",), ("Harris",),
            ("Clarke",), ("Lewis",), ("Walker",), ("Hall",)], "GB"),
    "fr": ([("Jean-Pierre",), ("Jean-Luc",), ("François",), ("Hélène",), ("Jérôme",), ("Frédéric",), ("Stéphane",),
            ("Benoît",), ("Céline",), ("Noël",), ("Gaël",)],
           [("Dupont",), ("Lefèvre",), ("Le Goff",), ("Girard",), ("Bonnet",), ("Fournier",), ("Lambert",),
            ("Rousseau",), ("Mercier",), ("Faure",), ("Chevalier",), ("Gauthier",), ("Le Roux",), ("Barbier",)],
           "FR"),
}
NATIVE = {
    "ru": (RU_GIVEN, RU_SURNAME, "RU"), "ar": (AR_GIVEN, AR_SURNAME, "SY"), "fa": (FA_GIVEN, FA_SURNAME, "IR"),
    "zh": (ZH_GIVEN, ZH_SURNAME, "CN"), "ko": (KO_GIVEN, KO_SURNAME, "KP"), "el": (EL_GIVEN, EL_SURNAME, "GR"),
    "uk": (UK_GIVEN, UK_SURNAME, "UA"),
}
# Other Latin spellings of a listed one, as other transliteration systems or habits write it.
TRANSLIT = {
    "Sergey": ["Sergei", "Serguei"], "Aleksandr": ["Alexander", "Alexandr", "Oleksandr"], "Dmitriy": ["Dmitry", "Dmitrii"],
    "Andrey": ["Andrei"], "Aleksey": ["Alexei", "Alexey", "Aleksei"], "Nikolay": ["Nikolai"], "Yevgeniy": ["Evgeny", "Evgenii", "Yevgeny"],
    "Mikhail": ["Mikhael", "Michail"], "Yuriy": ["Yuri", "Iurii", "Yury"], "Anatoliy": ["Anatoly", "Anatolii"],
    "Gennadiy": ["Gennady", "Gennadii"], "Arkadiy": ["Arkady"], "Maksim": ["Maxim"], "Zaytsev": ["Zaitsev"],
    "Vasilyev": ["Vasiliev", "Vasilev"], "Fedorov": ["Fyodorov", "Feodorov"], "Grigoryev": ["Grigoriev"],
    "Shoygu": ["Shoigu"], "Tkachev": ["Tkachov", "Tkachyov"], "Kovalchuk": ["Kovalchouk"],
    "Mohammed": ["Muhammad", "Mohamed", "Mohammad", "Mohamad"], "Ahmed": ["Ahmad"], "Hussein": ["Husayn", "Hussain", "Hossein"],
    "Yousef": ["Yusuf", "Youssef", "Yousif"], "Mahmoud": ["Mahmud", "Mahmood"], "Mustafa": ["Moustafa", "Mostafa"],
    "Saeed": ["Said", "Saed"], "Tariq": ["Tarek", "Tareq"], "Nasser": ["Naser", "Nasir"], "Faisal": ["Faysal", "Feisal"],
    "Karim": ["Kareem"], "Walid": ["Waleed"], "Jamal": ["Gamal"], "Rashid": ["Rasheed"], "Ziad": ["Ziyad"],
    "al-Rashid": ["al-Rasheed"], "Nasrallah": ["Nasrullah"], "al-Zawahiri": ["al-Zawahri"], "Mansour": ["Mansur", "Mansoor"],
    "Suleiman": ["Sulayman", "Soleiman"], "Qasim": ["Kassem", "Qassem"], "al-Obeidi": ["al-Ubaydi"], "Othman": ["Uthman", "Osman"],
    "Hosseini": ["Husseini", "Hoseini"], "Rezaei": ["Rezai", "Rezaee"], "Ghorbani": ["Qorbani"], "Soleimani": ["Suleimani", "Solaimani"],
    "Sadeghi": ["Sadeqi"], "Ghasem": ["Qasem", "Ghassem"], "Esmail": ["Ismail", "Esmaeil"], "Mojtaba": ["Mujtaba"],
    "Mehdi": ["Mahdi"], "Javad": ["Jawad"], "Dariush": ["Daryush", "Dariusch"], "Behrouz": ["Behruz"],
    "Georgios": ["Yiorgos", "Giorgos"], "Konstantinos": ["Constantinos", "Kostantinos"], "Dimitrios": ["Demetrios", "Dimitris"],
    "Ioannis": ["Yannis", "Ioannes"], "Panagiotis": ["Panayiotis", "Panagiotes"], "Vasileios": ["Vasilios", "Vassilios"],
    "Christos": ["Hristos", "Khristos"], "Athanasios": ["Athanassios"], "Papadopoulos": ["Papadopulos"],
    "Oikonomou": ["Economou", "Ikonomou"], "Karagiannis": ["Karayannis"],
    "Pak": ["Park", "Bak"], "Choe": ["Choi"], "Jong Chol": ["Jong-chol", "Chong Chol"],
    "Kwang Ho": ["Gwang Ho"], "Myong Hak": ["Myeong Hak"], "Song Il": ["Seong Il"], "Kyong Hui": ["Kyung Hee"],
    "Chol Su": ["Cheol Su", "Chul Soo"], "Jon": ["Chon", "Jeon"],
    "Volodymyr": ["Wolodymyr", "Volodimir"], "Andriy": ["Andrii", "Andrij"], "Serhiy": ["Serhii", "Sergiy"],
    "Yanukovych": ["Yanukovich", "Janukowytsch"], "Oliynyk": ["Oliinyk"], "Melnyk": ["Melnik"],
}
CONFUSABLE = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і", "A": "А", "B": "В",
              "E": "Е", "K": "К", "M": "М", "H": "Н", "O": "О", "P": "Р", "C": "С", "T": "Т", "X": "Х"}
COMPANY_WORDS = ["Rostok", "Baltic", "Sirius", "Zenith", "Orion", "Almaz", "Volga", "Taiga", "Polaris", "Sapphire",
                 "Crescent", "Noor", "Falcon", "Meridian", "Khazar", "Pegasus", "Atlas", "Aurora", "Delta", "Petrolink",
                 "Sevmash", "Tekhno", "Kaspi", "Arvand", "Kavir", "Parsian", "Tosan", "Golden", "Eastern", "Lotus",
                 "Jade", "Phoenix", "Pyongsu", "Ryonbong", "Korea Kumsan", "Haegeumgang", "Amur", "Granit", "Kristall",
                 "Neftegaz", "Avia", "Marine", "Energy", "Shipping", "Logistics", "Petroleum", "Metals", "Aero",
                 "Bunker", "Chemicals", "Tanker", "Minerals", "Precision", "Electronics", "Telecom", "Dynamics"]
SECTOR = ["Shipping", "Logistics", "Petroleum", "Metals", "Aero", "Bunker", "Chemicals", "Tanker", "Minerals",
          "Precision", "Electronics", "Telecom", "Dynamics", "Neftegaz", "Marine", "Energy", "Avia"]
HEADS = ["Rostok", "Baltic", "Sirius", "Zenith", "Orion", "Almaz", "Volga", "Taiga", "Polaris", "Sapphire", "Crescent",
         "Noor", "Falcon", "Meridian", "Khazar", "Pegasus", "Atlas", "Aurora", "Petrolink", "Sevmash", "Tekhno",
         "Kaspi", "Arvand", "Kavir", "Parsian", "Tosan", "Lotus", "Jade", "Phoenix", "Pyongsu", "Ryonbong", "Amur",
         "Granit", "Kristall", "Haegeumgang", "Mirbashir", "Sinopec Star", "Hapag Orient", "Zagros", "Damavand"]
LEGAL = [("LLC", ["Ltd", "Limited Liability Company", "L.L.C."]), ("LTD", ["Limited", "LLC", "Ltd."]),
         ("GMBH", ["GmbH & Co KG", "AG", "Ltd"]), ("OOO", ["LLC", "Ltd", "OAO"]), ("FZE", ["FZCO", "LLC", "Trading FZE"]),
         ("S.A.", ["SA", "SARL", "Ltd"]), ("CO., LTD.", ["Company Limited", "Co Ltd", "Corporation"]),
         ("JSC", ["PJSC", "OJSC", "Joint Stock Company"]), ("PLC", ["Limited", "Ltd"]), ("B.V.", ["BV", "NV"])]
PARTICLE_FORMS = {"al-": ["al ", "Al", "el-", "Al-"], "van der ": ["Van Der ", "vander", "van der"], "van den ": ["Vanden", "van den"],
                  "de ": ["De", "de "], "ter ": ["Ter", "ter "], "van ": ["Van", "van "], "Le ": ["Le", "le "]}
DIACRITIC_OUT = {"ü": ["ue", "u"], "ö": ["oe", "o"], "ä": ["ae", "a"], "ß": ["ss"], "ı": ["i"], "İ": ["I"], "ş": ["s"],
                 "ç": ["c"], "ğ": ["g"], "Ş": ["S"], "Ç": ["C"], "Ö": ["O", "Oe"], "Ü": ["U", "Ue"], "ł": ["l"], "Ł": ["L"],
                 "ó": ["o"], "ń": ["n"], "ż": ["z"], "ź": ["z"], "ą": ["a"], "ę": ["e"], "é": ["e"], "è": ["e"], "ê": ["e"],
                 "á": ["a"], "í": ["i"], "ú": ["u"], "ñ": ["n"], "ô": ["o"], "î": ["i"], "ë": ["e"], "â": ["a"],
                 "ă": ["a"], "ơ": ["o"], "ư": ["u"], "đ": ["d"], "Đ": ["D"], "ạ": ["a"], "ả": ["a"], "ấ": ["a"],
                 "ầ": ["a"], "ẩ": ["a"], "ậ": ["a"], "ắ": ["a"], "ằ": ["a"], "ẳ": ["a"], "ặ": ["a"], "ẹ": ["e"],
                 "ế": ["e"], "ề": ["e"], "ể": ["e"], "ễ": ["e"], "ệ": ["e"], "ị": ["i"], "ỉ": ["i"], "ọ": ["o"],
                 "ố": ["o"], "ồ": ["o"], "ổ": ["o"], "ỗ": ["o"], "ộ": ["o"], "ớ": ["o"], "ờ": ["o"], "ở": ["o"],
                 "ỡ": ["o"], "ợ": ["o"], "ụ": ["u"], "ủ": ["u"], "ứ": ["u"], "ừ": ["u"], "ử": ["u"], "ữ": ["u"],
                 "ự": ["u"], "ỳ": ["y"], "ỹ": ["y"], "ã": ["a"], "õ": ["o"], "ũ": ["u"], "ĩ": ["i"], "ò": ["o"],
                 "ù": ["u"], "ì": ["i"], "à": ["a"], "ý": ["y"], "Á": ["A"], "Ă": ["A"], "Â": ["A"], "Ê": ["E"],
                 "Ô": ["O"], "Ơ": ["O"], "Ư": ["U"], "ė": ["e"], "š": ["s"], "č": ["c"], "ž": ["z"]}
PLAIN_TO_DIACRITIC = {"Muller": "Müller", "Schroder": "Schröder", "Yilmaz": "Yılmaz", "Ozturk": "Öztürk",
                      "Nguyen": "Nguyễn", "Lukasz": "Łukasz", "Garcia": "García", "Sahin": "Şahin", "Celik": "Çelik",
                      "Hung": "Hùng", "Jose": "José", "Kowalczyk": "Kowalczyk"}


@dataclass
class Person:
    ent: str
    culture: str
    given: list[tuple[str, str]]  # (latin, native)
    surname: tuple[str, str]
    patronymic: tuple[str, str] | None = None
    dobs: list[str] = field(default_factory=list)  # OFAC remarks form
    dob_value: dt.date | None = None
    country: str = ""
    aliases: list[tuple[str, str, bool]] = field(default_factory=list)  # (type, name, weak)
    list_surname: str = ""

    def listed(self) -> str:
        given = " ".join(g for g, _ in self.given)
        if self.patronymic:
            given += " " + self.patronymic[0]
        return f"{(self.list_surname or self.surname[0]).upper()}, {given}"


@dataclass
class Company:
    ent: str
    words: list[str]
    legal: str
    country: str

    def listed(self) -> str:
        return " ".join(self.words).upper() + " " + self.legal


def _month(n: int) -> str:
    return ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][n - 1]


def build(rng: random.Random) -> tuple[list[Person], list[Company]]:  # noqa: C901 - one branch per kind of labelled case, in the order the seeded generator draws them
    persons: list[Person] = []
    taken: set[tuple[str, str]] = set()
    weak_taken: set[str] = set()
    ent = 10000
    cultures = [(c, g, s, cc) for c, (g, s, cc) in NATIVE.items()] + [(c, g, s, cc) for c, (g, s, cc) in LATIN.items()]
    for culture, given_pool, surname_pool, country in cultures:
        count = 16 if culture in NATIVE else 14
        for _ in range(count):
            for _attempt in range(50):
                surname = rng.choice(surname_pool)
                first = rng.choice(given_pool)
                if (first[0], surname[0]) not in taken:
                    break
            taken.add((first[0], surname[0]))
            given = [(first[0], first[1] if len(first) > 1 else first[0])]
            if culture in ("ar", "fa", "en", "de") and rng.random() < 0.4:
                second = rng.choice([g for g in given_pool if g[0] != first[0]])
                given.append((second[0], second[1] if len(second) > 1 else second[0]))
            patronymic = rng.choice(RU_PATRONYMIC) if culture == "ru" else None
            ent += rng.randint(1, 40)
            born = dt.date(rng.randint(1945, 1995), rng.randint(1, 12), rng.randint(1, 28))
            style = rng.random()
            if style < 0.6:
                dobs = [f"DOB {born.day:02d} {_month(born.month)} {born.year}"]
            elif style < 0.8:
                dobs = [f"DOB {born.year}"]
            elif style < 0.9:
                dobs = [f"DOB circa {born.year}"]
            else:
                dobs = [f"DOB {born.day:02d} {_month(born.month)} {born.year}", f"alt. DOB {born.year + 1}"]
            surname_t = (surname[0], surname[1] if len(surname) > 1 else surname[0])
            person = Person(str(ent), culture, given, surname_t, patronymic, dobs, born, country)
            if rng.random() < 0.3:
                other = rng.choice([s for s in surname_pool if s[0] != surname[0] and (given[0][0], s[0]) not in taken])
                taken.add((given[0][0], other[0]))
                person.aliases.append((rng.choice(["aka", "fka", "nka"]), f"{other[0].upper()}, {given[0][0]}", False))
            if rng.random() < 0.2:
                for _attempt in range(50):
                    weak = f"Abu {rng.choice(AR_GIVEN)[0]} {rng.choice(['al-Iraqi', 'al-Shami', 'al-Kurdi', 'al-Masri', 'al-Tunisi', 'al-Libi'])}"
                    if weak not in weak_taken:
                        break
                weak_taken.add(weak)
                person.aliases.append(("aka", weak, True))
            persons.append(person)
    companies: list[Company] = []
    used: set[str] = set()
    for _ in range(60):
        for _attempt in range(50):
            words = [rng.choice(HEADS), rng.choice(SECTOR)]
            if rng.random() < 0.3:
                words.append(rng.choice(["Trading", "Group", "International", "Holding"]))
            key = " ".join(words[:2])
            if key not in used:
                break
        used.add(key)
        ent += rng.randint(1, 40)
        companies.append(Company(str(ent), words, rng.choice(LEGAL)[0], rng.choice(["RU", "IR", "AE", "KP", "SY", "CN", "TR"])))
    return persons, companies


OFAC_COUNTRY = {"RU": "Russia", "SY": "Syria", "IR": "Iran", "CN": "China", "KP": "Korea, North", "GR": "Greece",
                "UA": "Ukraine", "DE": "Germany", "TR": "Turkey", "PL": "Poland", "VN": "Vietnam", "MX": "Mexico",
                "NL": "Netherlands", "GB": "United Kingdom", "FR": "France", "AE": "United Arab Emirates"}


def write_list(persons: list[Person], companies: list[Company]) -> None:
    with (HERE / "labelled_sdn.csv").open("w", newline="", encoding="utf-8") as sdn, \
            (HERE / "labelled_alt.csv").open("w", newline="", encoding="utf-8") as alt, \
            (HERE / "labelled_add.csv").open("w", newline="", encoding="utf-8") as add:
        sdn_w, alt_w, add_w = (csv.writer(f, lineterminator="\r\n") for f in (sdn, alt, add))
        alt_no = add_no = 1
        for p in persons:
            remarks = "; ".join([*p.dobs, f"nationality {OFAC_COUNTRY[p.country]}"]) + ";"
            sdn_w.writerow([p.ent, p.listed(), "individual", "SDGT", "-0- ", "-0- ", "-0- ", "-0- ", "-0- ", "-0- ",
                            "-0- ", remarks])
            for kind, name, weak in p.aliases:
                alt_w.writerow([p.ent, alt_no, kind, name, "weak" if weak else "-0- "])
                alt_no += 1
        for c in companies:
            sdn_w.writerow([c.ent, c.listed(), "-0- ", "IRAN", "-0- ", "-0- ", "-0- ", "-0- ", "-0- ", "-0- ", "-0- ",
                            "-0- "])
            add_w.writerow([c.ent, add_no, "-0- ", "-0- ", OFAC_COUNTRY[c.country], "-0- "])
            add_no += 1


@dataclass
class Q:
    name: str
    kind: str
    expected: str
    dob: str = ""
    country: str = ""
    client_type: str = "person"


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randint(1, len(word) - 2)
    op = rng.choice(["swap", "drop", "double", "replace"])
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "drop":
        return word[:i] + word[i + 1:]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    near = {"a": "s", "e": "r", "i": "o", "o": "i", "n": "m", "m": "n", "r": "t", "s": "a", "t": "r", "l": "k", "u": "y"}
    return word[:i] + near.get(word[i], "e") + word[i + 1:]


def _strip(text: str) -> str:
    return "".join(DIACRITIC_OUT.get(c, [c])[0] for c in text)


def _dob_for(p: Person, rng: random.Random, keep: float = 0.75) -> str:
    return p.dob_value.isoformat() if p.dob_value and rng.random() < keep else ""


def _given(p: Person) -> str:
    return " ".join(g for g, _ in p.given)


def _one_slip(listed: dt.date, typed: dt.date) -> bool:
    """One digit of the date changed, or two neighbouring digits swapped (the dates as YYYYMMDD)."""
    a, b = listed.strftime("%Y%m%d"), typed.strftime("%Y%m%d")
    differ = [i for i in range(8) if a[i] != b[i]]
    return len(differ) == 1 or (len(differ) == 2 and differ[1] == differ[0] + 1 and a[differ[0]] == b[differ[1]])


def _slipped(rng: random.Random, born: dt.date) -> dt.date:
    """The birth date as a client mistypes it: a digit of the day, day and month swapped, or the year one out."""
    how = rng.choice(["day", "swap", "year"])
    if how == "swap" and born.day <= 12 and born.day != born.month:
        return born.replace(month=born.day, day=born.month)
    if how == "day":
        digit = (born.day % 10 + rng.choice([1, 2, 3])) % 10
        day = born.day // 10 * 10 + digit
        if 1 <= day <= 28 and day != born.day:
            return born.replace(day=day)
    return born.replace(year=born.year + rng.choice([-1, 1]))


def queries(rng: random.Random, persons: list[Person], companies: list[Company]) -> list[Q]:  # noqa: C901 - one branch per kind of labelled case, in the order the seeded generator draws them
    out: list[Q] = []
    slips = random.Random(SEED + 1)  # the mistyped birth dates draw apart, leaving the other draws as they were
    for p in persons:
        given, sur = _given(p), p.surname[0]
        out.append(Q(f"{given} {sur}", "exact", p.ent, _dob_for(p, rng), p.country))
        variant = rng.choice([f"{sur.upper()} {given.lower()}", f"{given}  {sur.replace('-', ' ')}.",
                              f"{sur}, {given}".upper(), f"{given.lower()}-{sur.lower()}"])
        out.append(Q(variant, "case_punct", p.ent, _dob_for(p, rng)))
        if p.patronymic or len(p.given) > 1 or " " in sur.strip():
            if p.patronymic:
                out.append(Q(f"{given} {sur}", "missing_part", p.ent, _dob_for(p, rng)))
                other = rng.choice([x for x in RU_PATRONYMIC if x != p.patronymic])
                out.append(Q(f"{given} {other[0]} {sur}", "neg_patronymic", "", "", p.country))
            elif len(p.given) > 1:
                out.append(Q(f"{p.given[0][0]} {sur}", "missing_part", p.ent, _dob_for(p, rng)))
            elif p.culture == "es":
                out.append(Q(f"{given} {sur.split()[0]}", "missing_part", p.ent, _dob_for(p, rng)))
        out.append(Q(f"{p.given[0][0][0]}. {' '.join(g for g, _ in p.given[1:])} {sur}".replace("  ", " "), "initials",
                     p.ent, _dob_for(p, rng, 0.9)))
        long_words = [w for w in f"{given} {sur}".split() if len(w) >= 5]
        if long_words:
            word = rng.choice(long_words)
            out.append(Q(f"{given} {sur}".replace(word, _typo(rng, word), 1), "typo", p.ent, _dob_for(p, rng)))
        plain = f"{_strip(given)} {_strip(sur)}"
        if plain != f"{given} {sur}" and p.culture not in NATIVE:
            out.append(Q(plain, "diacritics", p.ent, _dob_for(p, rng)))
            german = "".join({"ü": "ue", "ö": "oe", "ä": "ae", "ß": "ss"}.get(c, c) for c in f"{given} {sur}")
            if german != f"{given} {sur}":
                out.append(Q(_strip(german), "diacritics", p.ent, _dob_for(p, rng)))
        if p.culture in NATIVE:
            native_given = " ".join(n for _, n in p.given)
            if p.culture in ("zh", "ko"):
                native = p.surname[1] + native_given.replace(" ", "")
            elif p.culture in ("ru", "uk") and rng.random() < 0.5:
                native = f"{p.surname[1]} {native_given}" + (f" {p.patronymic[1]}" if p.patronymic else "")
            else:
                native = f"{native_given} {p.surname[1]}"
            out.append(Q(native, "script", p.ent, _dob_for(p, rng)))
        swaps = [w for w in [*(g for g, _ in p.given), sur] if w in TRANSLIT]
        if swaps:
            word = rng.choice(swaps)
            out.append(Q(f"{given} {sur}".replace(word, rng.choice(TRANSLIT[word])), "translit", p.ent, _dob_for(p, rng)))
        for form, repl in PARTICLE_FORMS.items():
            if sur.startswith(form) or sur.startswith(form.strip()):
                rest = sur[len(form):]
                out.append(Q(f"{given} {rng.choice(repl)}{rest}", "particles", p.ent, _dob_for(p, rng)))
                break
        letters = [i for i, c in enumerate(sur) if c in CONFUSABLE]
        if letters and rng.random() < 0.7:
            i = rng.choice(letters)
            out.append(Q(f"{given} {sur[:i]}{CONFUSABLE[sur[i]]}{sur[i + 1:]}", "lookalike", p.ent, _dob_for(p, rng)))
        for _kind, name, weak in p.aliases:
            surname, _, first = name.partition(", ")
            if weak:
                out.append(Q(f"{name} {rng.choice(['Hamdan', 'Rahman', 'Khan', 'Mirza'])}", "neg_weak_alias", ""))
                out.append(Q(name, "alias", p.ent, _dob_for(p, rng)))
            else:
                out.append(Q(f"{first} {surname.title()}", "alias", p.ent, _dob_for(p, rng)))
        # Negatives: the listed surname with another given name of the culture.
        pool = NATIVE[p.culture][0] if p.culture in NATIVE else LATIN[p.culture][0]
        listed_first = {g for g, _ in p.given}
        variants = {v for g in listed_first for v in TRANSLIT.get(g, [])}
        others = [g[0] for g in pool if g[0] not in listed_first and g[0] not in variants
                  and not _listed_pair(persons, g[0], sur)]
        out.append(Q(f"{rng.choice(others)} {sur}", "neg_surname", "", _dob_for(p, rng, 0.0)))
        out.append(Q(f"{rng.choice(others)} {sur}", "neg_surname", "", (p.dob_value or dt.date(1970, 1, 1)).isoformat()))
        if p.dob_value and not any("circa" in d or "alt." in d for d in p.dobs):
            wrong = p.dob_value.replace(year=p.dob_value.year + rng.choice([-9, -6, 5, 8]))
            while _one_slip(p.dob_value, wrong):  # a slip of the keyboard is the same person (dob_slip)
                wrong = wrong.replace(year=wrong.year + 11)
            out.append(Q(f"{given} {sur}", "neg_dob", "", wrong.isoformat(), p.country))
            out.append(Q(f"{given} {sur}", "dob_slip", p.ent, _slipped(slips, p.dob_value).isoformat(), p.country))
    for c in companies:
        words = " ".join(c.words)
        forms = next(f for legal, f in LEGAL if legal == c.legal)
        out.append(Q(f"{words} {rng.choice(forms)}", "company_form", c.ent, client_type="company"))
        out.append(Q(f"{words.upper()} {c.legal}", "exact", c.ent, client_type="company"))
        wording = rng.choice(["The ", "", ""]) + words + rng.choice([" Company", " Group", " International", " Trading Co"])
        out.append(Q(wording, "company_form", c.ent, client_type="company"))
        listed_pairs = {(x.words[0], x.words[1]) for x in companies}
        other = rng.choice([s for s in SECTOR if s not in c.words and (c.words[0], s) not in listed_pairs])
        out.append(Q(f"{c.words[0]} {other} {c.legal}", "neg_company", "", client_type="company"))
        head = rng.choice([h for h in HEADS if h != c.words[0] and (h, c.words[1]) not in listed_pairs])
        out.append(Q(f"{head} {' '.join(c.words[1:])} {c.legal}", "neg_company", "", client_type="company"))
    return out


def _fold(text: str) -> str:
    return anyascii(text).lower().replace("-", " ")


def _listed_pair(persons: list[Person], first: str, surname: str) -> bool:
    """Whether a listed person (under any of their names, in any listed spelling) is called so."""
    spellings = {_fold(x) for x in (first, *TRANSLIT.get(first, []))}
    for p in persons:
        names = [(p.given[0][0], p.surname[0])] + [
            (n.partition(", ")[2].split(" ")[0], n.partition(", ")[0].title()) for kind, n, weak in p.aliases if not weak]
        for given, sur in names:
            if _fold(sur) == _fold(surname) and (_fold(given) in spellings or first in TRANSLIT.get(given, [])):
                return True
    return False


def ordinary(rng: random.Random, persons: list[Person], count: int = 1000) -> list[Q]:
    cultures = list(NATIVE) + list(LATIN)
    out: list[Q] = []
    while len(out) < count:
        culture = rng.choice(cultures)
        given_pool, surname_pool, country = NATIVE[culture] if culture in NATIVE else LATIN[culture]
        first, surname = rng.choice(given_pool), rng.choice(surname_pool)
        if _listed_pair(persons, first[0], surname[0]) or _listed_pair(persons, first[0].split()[0], surname[0]):
            continue
        if culture in NATIVE and rng.random() < 0.25:
            name = surname[1] + first[1].replace(" ", "") if culture in ("zh", "ko") else f"{first[1]} {surname[1]}"
        else:
            name = f"{first[0]} {surname[0]}"
        born = dt.date(rng.randint(1945, 2004), rng.randint(1, 12), rng.randint(1, 28))
        dob = born.isoformat() if rng.random() < 0.7 else ""
        out.append(Q(name, "ordinary", "", dob, country))
    return out


def main() -> None:
    rng = random.Random(SEED)
    persons, companies = build(rng)
    write_list(persons, companies)
    rows = queries(rng, persons, companies) + ordinary(rng, persons)
    with (HERE / "labelled_queries.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["query_id", "full_name", "dob", "country", "client_type", "kind", "expected"])
        for n, q in enumerate(rows, start=1):
            writer.writerow([f"Q{n:05d}", q.name, q.dob, q.country, q.client_type, q.kind, q.expected])


if __name__ == "__main__":
    main()
