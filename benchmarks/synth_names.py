"""Name, street and city tables for the synthetic population (benchmarks/synth.py).

Each table is plain text: one entry per line, ``value weight`` where the weight is a
relative frequency (roughly per 100,000 people for the real names; the figures are
rounded public surname/given-name statistics, good enough to give realistic skew).
A long tail of rarer family names is built from syllables in ``synth.py``.
"""

from __future__ import annotations

# German family names: the head of the real distribution (Müller alone is ~1%).
GERMAN_FAMILY = """
Müller 960 Schmidt 700 Schneider 390 Fischer 360 Weber 320 Meyer 300 Wagner 280
Becker 260 Schulz 250 Hoffmann 240 Schäfer 210 Koch 200 Bauer 200 Richter 190
Klein 190 Wolf 180 Schröder 170 Neumann 170 Schwarz 170 Zimmermann 160 Braun 160
Krüger 150 Hofmann 150 Hartmann 150 Lange 140 Schmitt 140 Werner 140 Schmitz 140
Krause 140 Meier 130 Lehmann 130 Schmid 130 Schulze 120 Maier 120 Köhler 120
Herrmann 120 König 120 Walter 110 Mayer 110 Huber 110 Kaiser 110 Fuchs 110
Peters 110 Lang 100 Scholz 100 Möller 100 Weiß 100 Jung 100 Hahn 100 Schubert 95
Vogel 95 Friedrich 95 Keller 90 Günther 90 Frank 90 Berger 90 Winkler 85 Roth 85
Beck 85 Lorenz 85 Baumann 80 Franke 80 Albrecht 80 Schuster 80 Simon 80 Ludwig 75
Böhm 75 Winter 75 Kraus 75 Martin 75 Schumacher 70 Krämer 70 Vogt 70 Stein 70
Jäger 70 Otto 70 Sommer 70 Groß 70 Seidel 65 Heinrich 65 Brandt 65 Haas 65
Schreiber 65 Graf 65 Schulte 60 Dietrich 60 Ziegler 60 Kuhn 60 Kühn 60 Pohl 60
Engel 60 Horn 60 Busch 60 Bergmann 60 Thomas 55 Voigt 55 Sauer 55 Arnold 55
Wolff 55 Pfeiffer 55 Strauß 40 Voß 40 Preuß 35 Rößler 30 Jürgens 30 Lösch 20
Gärtner 40 Bäcker 15 Süß 20 Nüßlein 8 Hölzl 8 Fröhlich 35 Förster 35 Mößner 8
"""

ENGLISH_FAMILY = """
Smith 1100 Jones 800 Williams 600 Taylor 500 Brown 500 Davies 450 Evans 350
Wilson 300 Thomas 300 Johnson 280 Roberts 280 Robinson 230 Thompson 230 Wright 230
Walker 220 White 210 Edwards 200 Hughes 200 Green 200 Hall 200 Lewis 200 Harris 200
Clarke 190 Patel 190 Jackson 180 Wood 180 Turner 170 Martin 170 Cooper 170 Hill 170
Ward 160 Morris 160 Moore 160 Clark 160 Lee 150 King 150 Baker 150 Harrison 150
Morgan 140 Allen 140 James 140 Scott 140 Phillips 130 Watson 130 Davis 130
Parker 130 Price 120 Bennett 120 Young 120 Griffiths 120 Mitchell 120 Kelly 120
Cook 120 Carter 110 Richardson 110 Bailey 110 Collins 110 Bell 110 Shaw 110
Murphy 110 Miller 100 Cox 100 Richards 100 Khan 100 Marshall 100 Anderson 100
Simpson 100 Ellis 100 Adams 100 Singh 100 Begum 90 Wilkinson 90 Foster 90
Chapman 90 Powell 90 Webb 90 Rogers 90 Gray 90 Mason 90 Ali 90 Hunt 90
Hussain 80 Campbell 80 Matthews 80 Owen 80 Palmer 80 Holmes 80 Mills 80 Barnes 80
Knight 80 Lloyd 80 Butler 80 Russell 80 Barker 80 Fisher 80 Stevens 80 Jenkins 80
"""

# Given names: (name, weight, sex).  Nicknames are in NICKNAMES below.
GERMAN_FEMALE = """
Anna 300 Maria 280 Ursula 200 Monika 180 Petra 170 Elisabeth 170 Sabine 160
Renate 150 Helga 150 Karin 150 Brigitte 140 Ingrid 140 Erika 130 Andrea 130
Gisela 120 Susanne 120 Christine 120 Claudia 110 Stefanie 110 Katharina 110
Julia 110 Sandra 100 Nicole 100 Birgit 100 Gabriele 100 Barbara 100 Margarete 90
Johanna 90 Lena 90 Laura 90 Sarah 90 Lea 80 Leonie 80 Hannah 80 Sophie 80 Marie 80
Emma 80 Mia 70 Franziska 70 Magdalena 60 Christiane 60 Jutta 60 Heike 60 Jessica 60
Martina 60 Melanie 60 Simone 60 Doris 50 Käthe 20 Lisa 60 Paula 50
Daniela 50 Jana 50 Lara 40 Charlotte 40 Greta 30 Dörte 15 Bärbel 20 Lotte 20
"""

GERMAN_MALE = """
Peter 250 Michael 250 Thomas 240 Andreas 230 Wolfgang 200 Klaus 190 Jürgen 180
Stefan 180 Hans 170 Frank 160 Uwe 150 Christian 150 Bernd 140 Markus 130 Werner 130
Matthias 130 Alexander 120 Martin 120 Heinz 110 Günter 110 Manfred 110 Karl 100
Dieter 100 Horst 100 Johannes 100 Tobias 90 Sebastian 90 Daniel 90 Jan 90
Maximilian 80 Lukas 80 Paul 80 Felix 80 Jonas 80 Leon 80 Tim 70 Tom 60 Ben 60
Friedrich 60 Wilhelm 60 Heinrich 60 Jakob 50 Florian 60 Philipp 60 Moritz 50
Niklas 50 Jörg 60 Björn 40 Sören 30 Max 50 Rainer 60 Helmut 80 Gerhard 80
Fritz 20 Robert 60 Georg 50 Josef 50 Franz 40 Ralf 60
"""

ENGLISH_FEMALE = """
Mary 200 Elizabeth 180 Sarah 160 Emma 150 Olivia 150 Amelia 120 Jessica 120
Emily 120 Sophie 110 Charlotte 110 Margaret 110 Susan 100 Patricia 100 Jennifer 100
Linda 90 Karen 90 Helen 90 Rebecca 80 Victoria 80 Catherine 80 Katherine 80 Anne 70
Jane 70 Rachel 70 Lucy 70 Grace 70 Chloe 60 Hannah 60 Alice 60 Ruth 50 Joan 50
Dorothy 50 Hazel 40 Abigail 40 Samantha 50 Deborah 50 Claire 50 Louise 50 Amy 50
"""

ENGLISH_MALE = """
John 220 David 200 James 200 Robert 180 Michael 170 William 170 Richard 150
Thomas 140 Christopher 130 Daniel 120 Paul 120 Mark 110 Andrew 110 Steven 100
Joseph 100 Edward 90 Anthony 90 Matthew 90 George 90 Oliver 90 Harry 80 Jack 80
Charles 80 Peter 80 Kevin 60 Brian 60 Gary 60 Nicholas 60 Samuel 60 Benjamin 60
Henry 50 Alexander 50 Patrick 50 Simon 50 Stephen 50 Jonathan 50 Timothy 40
"""

# Nicknames and short forms: canonical -> variants seen in other sources.
NICKNAMES = """
Johannes: Hannes Johann Jo
Robert: Bob Rob Bobby
Katharina: Kathi Katja Kathrin
William: Bill Will Billy
Elisabeth: Lisa Liesel Elise Sissi
Elizabeth: Liz Beth Betty Lizzie
Margarete: Grete Gretel Margret
Margaret: Maggie Peggy Meg
Michael: Mike Micha Michi
Thomas: Tom Tommy
Christopher: Chris Kit
Christian: Chris Christl
Alexander: Alex Sascha
Maximilian: Max Maxi
Friedrich: Fritz Fred
Wilhelm: Willi Wilm
Heinrich: Heinz Heini
James: Jim Jimmy Jamie
Richard: Rick Dick Richie
Edward: Ed Ted Eddie
Joseph: Joe Joey
Josef: Sepp Jupp
Daniel: Dan Danny Dani
Anthony: Tony
Nicholas: Nick Nicky
Andreas: Andi Andy
Andrew: Andy Drew
Susanne: Susi Sanne
Susan: Sue Susie
Gabriele: Gabi
Johanna: Hanna Jo
Magdalena: Lena Leni
Franziska: Franzi
Benjamin: Ben Benny
Samuel: Sam Sammy
Jennifer: Jenny Jen
Patricia: Pat Patty Trish
Rebecca: Becky Becca
Victoria: Vicky Tori
Catherine: Cathy Kate Cat
Katherine: Kate Kathy Katie
Stefanie: Steffi
Matthias: Matze Matthi
Matthew: Matt
Sebastian: Basti
Tobias: Tobi
Stephen: Steve
Steven: Steve
Samantha: Sam Sammy
Charlotte: Lotte Charly
Abigail: Abby
Jonathan: Jon Jonny
Timothy: Tim Timmy
Hans: Hansi
Georg: Schorsch
Dorothy: Dot Dolly
Barbara: Babs Barbie
Deborah: Debbie Deb
"""

# Pairs of similar given names used for twins (same sex unless marked).
SIMILAR_TWIN_NAMES = """
Lena Lea F
Anna Hanna F
Marie Maria F
Tim Tom M
Jan Jana X
Paul Paula X
Daniel Daniela X
Lukas Jonas M
Leon Leonie X
Emma Emily F
Sarah Sophie F
Ben Benjamin M
Niklas Nicole X
Max Moritz M
"""

STREETS = """
Hauptstraße 500 Schulstraße 300 Gartenstraße 280 Bahnhofstraße 280 Dorfstraße 250
Bergstraße 240 Birkenweg 200 Lindenstraße 200 Kirchstraße 200 Waldstraße 180
Ringstraße 170 Schillerstraße 160 Goethestraße 160 Amselweg 150 Jahnstraße 140
Wiesenweg 140 Friedhofstraße 130 Blumenstraße 130 Mühlenweg 120 Feldstraße 120
Rosenstraße 110 Lessingstraße 100 Mozartstraße 100 Beethovenstraße 100
Tulpenweg 90 Eichenweg 90 Buchenweg 90 Am Sportplatz 80 Am Bahnhof 80 Talstraße 80
Poststraße 80 Marktplatz 70 Parkstraße 70 Industriestraße 70 Friedrichstraße 70
Kastanienallee 60 Uhlandstraße 60 Sonnenweg 60 Ahornweg 60 Kantstraße 50
Königsallee 40 Grüner Weg 50 Mühlstraße 60 Breite Straße 50 Lange Straße 50
Heinrich-Heine-Straße 40 Karl-Marx-Straße 40 Schloßstraße 40 Rheinstraße 40
Weinbergstraße 40 Fröbelstraße 20 Gräfstraße 15 Bürgerstraße 20
"""

# city, weight, first postcode of its range, number of postcodes in the range
CITIES = """
Berlin 3600 10115 400
Hamburg 1800 20095 300
München 1500 80331 300
Köln 1000 50667 200
Frankfurt_am_Main 750 60306 150
Stuttgart 630 70173 120
Düsseldorf 620 40210 120
Leipzig 600 04103 100
Dortmund 590 44135 100
Essen 580 45127 100
Bremen 570 28195 100
Dresden 550 01067 100
Hannover 540 30159 100
Nürnberg 520 90402 100
Duisburg 500 47051 80
Bochum 360 44787 60
Wuppertal 350 42103 60
Bielefeld 330 33602 50
Bonn 330 53111 50
Münster 310 48143 50
Mannheim 310 68159 50
Karlsruhe 300 76131 50
Augsburg 290 86150 50
Wiesbaden 280 65183 40
Mönchengladbach 260 41061 40
Gelsenkirchen 260 45879 40
Aachen 250 52062 40
Braunschweig 250 38100 40
Kiel 240 24103 40
Chemnitz 240 09111 40
Halle 240 06108 40
Magdeburg 230 39104 40
Freiburg 230 79098 40
Krefeld 220 47798 30
Mainz 220 55116 30
Lübeck 210 23552 30
Erfurt 210 99084 30
Rostock 200 18055 30
Kassel 200 34117 30
Göttingen 120 37073 20
Würzburg 120 97070 20
Osnabrück 160 49074 30
Oldenburg 160 26121 30
Regensburg 150 93047 30
Heidelberg 150 69115 20
Gießen 80 35390 10
Lüneburg 70 21335 10
"""

EMAIL_DOMAINS = """
gmx.de 300 web.de 300 gmail.com 400 t-online.de 200 yahoo.de 60 outlook.com 80
hotmail.com 60 freenet.de 40 posteo.de 20 icloud.com 40 mail.de 20 online.de 20
"""


def pairs(text: str) -> list[tuple[str, float]]:
    """Parse ``value weight`` tokens (underscores in values become spaces)."""
    tokens = text.split()
    out: list[tuple[str, float]] = []
    for i in range(0, len(tokens), 2):
        name, weight = tokens[i].replace("_", " "), float(tokens[i + 1])
        if weight > 0:
            out.append((name, weight))
    return out


def street_pairs() -> list[tuple[str, float]]:
    """Parse STREETS, where a street name may have two words (``Am Bahnhof 80``)."""
    out: list[tuple[str, float]] = []
    words: list[str] = []
    for token in STREETS.split():
        if token.isdigit():
            out.append((" ".join(words), float(token)))
            words = []
        else:
            words.append(token)
    return out


def nicknames() -> dict[str, list[str]]:
    """Parse NICKNAMES into canonical -> variants."""
    out: dict[str, list[str]] = {}
    for line in NICKNAMES.strip().splitlines():
        name, _, rest = line.partition(":")
        out[name.strip()] = rest.split()
    return out


def cities() -> list[tuple[str, float, int, int]]:
    """Parse CITIES into (city, weight, first postcode, postcode count)."""
    out: list[tuple[str, float, int, int]] = []
    for line in CITIES.strip().splitlines():
        city, weight, first, count = line.split()
        out.append((city.replace("_", " "), float(weight), int(first), int(count)))
    return out


def similar_twin_names() -> list[tuple[str, str, str]]:
    """Parse SIMILAR_TWIN_NAMES into (name_a, name_b, sex) with sex M, F or X (mixed)."""
    return [
        (a, b, s) for a, b, s in (line.split() for line in SIMILAR_TWIN_NAMES.strip().splitlines())
    ]
