-- SIMRS Khanza-shaped DDL for the tables hospital_adapter.khanza reads (and writes, for the hand-over).
-- Column names and types follow the Khanza/mLITE schema (reference hospital.md §4.1); columns the
-- adapter never reads are kept where they make the seed realistic (NOT NULL columns Khanza has).
-- Text tables are latin1 as in Khanza; zero dates must be allowed, so load this with a session
-- sql_mode that has neither NO_ZERO_DATE nor NO_ZERO_IN_DATE (khanza_seed.create_schema does).
-- Statements are separated by ";" at the end of a line (khanza_seed splits on that).

CREATE TABLE propinsi (
  kd_prop int(11) NOT NULL AUTO_INCREMENT,
  nm_prop varchar(30) NOT NULL,
  PRIMARY KEY (kd_prop),
  UNIQUE KEY nm_prop (nm_prop)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE kabupaten (
  kd_kab int(11) NOT NULL AUTO_INCREMENT,
  nm_kab varchar(60) NOT NULL,
  PRIMARY KEY (kd_kab),
  UNIQUE KEY nm_kab (nm_kab)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE kecamatan (
  kd_kec int(11) NOT NULL AUTO_INCREMENT,
  nm_kec varchar(60) NOT NULL,
  PRIMARY KEY (kd_kec),
  UNIQUE KEY nm_kec (nm_kec)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE kelurahan (
  kd_kel int(11) NOT NULL AUTO_INCREMENT,
  nm_kel varchar(60) NOT NULL,
  PRIMARY KEY (kd_kel),
  UNIQUE KEY nm_kel (nm_kel)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE penjab (
  kd_pj char(3) NOT NULL,
  png_jawab varchar(30) NOT NULL,
  nama_perusahaan varchar(60) NOT NULL DEFAULT '',
  alamat_asuransi varchar(130) NOT NULL DEFAULT '',
  no_telp varchar(40) NOT NULL DEFAULT '',
  attn varchar(60) NOT NULL DEFAULT '',
  status enum('0','1') NOT NULL DEFAULT '1',
  PRIMARY KEY (kd_pj)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE pasien (
  no_rkm_medis varchar(15) NOT NULL,
  nm_pasien varchar(40) DEFAULT NULL,
  no_ktp varchar(20) DEFAULT NULL,
  jk enum('L','P') DEFAULT NULL,
  tmp_lahir varchar(15) DEFAULT NULL,
  tgl_lahir date DEFAULT NULL,
  nm_ibu varchar(40) NOT NULL DEFAULT '',
  alamat varchar(200) DEFAULT NULL,
  gol_darah enum('A','B','O','AB','-') DEFAULT NULL,
  pekerjaan varchar(60) DEFAULT NULL,
  stts_nikah enum('BELUM MENIKAH','MENIKAH','JANDA','DUDHA','JOMBLO') DEFAULT NULL,
  agama varchar(12) DEFAULT NULL,
  tgl_daftar date DEFAULT NULL,
  no_tlp varchar(40) DEFAULT NULL,
  umur varchar(30) NOT NULL DEFAULT '',
  pnd enum('TS','TK','SD','SMP','SMA','SLTA/SEDERAJAT','D1','D2','D3','D4','S1','S2','S3','-') NOT NULL DEFAULT '-',
  keluarga enum('AYAH','IBU','ISTRI','SUAMI','SAUDARA','ANAK','DIRI SENDIRI','LAIN-LAIN') DEFAULT NULL,
  namakeluarga varchar(50) NOT NULL DEFAULT '',
  kd_pj char(3) NOT NULL,
  no_peserta varchar(25) DEFAULT NULL,
  kd_kel int(11) NOT NULL,
  kd_kec int(11) NOT NULL,
  kd_kab int(11) NOT NULL,
  pekerjaanpj varchar(35) NOT NULL DEFAULT '',
  alamatpj varchar(100) NOT NULL DEFAULT '',
  kelurahanpj varchar(60) NOT NULL DEFAULT '',
  kecamatanpj varchar(60) NOT NULL DEFAULT '',
  kabupatenpj varchar(60) NOT NULL DEFAULT '',
  email varchar(50) NOT NULL DEFAULT '',
  nip varchar(30) NOT NULL DEFAULT '',
  kd_prop int(11) NOT NULL,
  propinsipj varchar(30) NOT NULL DEFAULT '',
  PRIMARY KEY (no_rkm_medis),
  KEY kd_pj (kd_pj),
  KEY kd_kel (kd_kel),
  KEY kd_kec (kd_kec),
  KEY kd_kab (kd_kab),
  KEY kd_prop (kd_prop)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE reg_periksa (
  no_reg varchar(8) DEFAULT NULL,
  no_rawat varchar(17) NOT NULL,
  tgl_registrasi date DEFAULT NULL,
  jam_reg time DEFAULT NULL,
  kd_dokter varchar(20) DEFAULT NULL,
  no_rkm_medis varchar(15) DEFAULT NULL,
  kd_poli char(5) DEFAULT NULL,
  p_jawab varchar(100) DEFAULT NULL,
  almt_pj varchar(200) DEFAULT NULL,
  hubunganpj varchar(20) DEFAULT NULL,
  biaya_reg double DEFAULT NULL,
  stts enum('Belum','Sudah','Batal','Berkas Diterima','Dirujuk','Meninggal','Dirawat','Pulang Paksa') DEFAULT NULL,
  stts_daftar enum('-','Lama','Baru') NOT NULL DEFAULT '-',
  status_lanjut enum('Ralan','Ranap') NOT NULL DEFAULT 'Ralan',
  kd_pj char(3) NOT NULL,
  umurdaftar int(11) DEFAULT NULL,
  sttsumur enum('Th','Bl','Hr') DEFAULT NULL,
  status_bayar enum('Sudah Bayar','Belum Bayar') NOT NULL DEFAULT 'Belum Bayar',
  status_poli enum('Lama','Baru') NOT NULL DEFAULT 'Baru',
  PRIMARY KEY (no_rawat),
  KEY no_rkm_medis (no_rkm_medis),
  KEY kd_pj (kd_pj)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE bridging_sep (
  no_sep varchar(40) NOT NULL DEFAULT '',
  no_rawat varchar(17) DEFAULT NULL,
  tglsep date DEFAULT NULL,
  tglrujukan date DEFAULT NULL,
  no_rujukan varchar(40) DEFAULT NULL,
  kdppkrujukan varchar(12) DEFAULT NULL,
  nmppkrujukan varchar(200) DEFAULT NULL,
  kdppkpelayanan varchar(12) DEFAULT NULL,
  nmppkpelayanan varchar(200) DEFAULT NULL,
  jnspelayanan enum('1','2') DEFAULT NULL,
  catatan varchar(100) DEFAULT NULL,
  diagawal varchar(10) DEFAULT NULL,
  nmdiagnosaawal varchar(400) DEFAULT NULL,
  kdpolitujuan varchar(15) DEFAULT NULL,
  nmpolitujuan varchar(50) DEFAULT NULL,
  klsrawat enum('1','2','3') DEFAULT NULL,
  lakalantas enum('0','1','2','3') DEFAULT NULL,
  user varchar(25) DEFAULT NULL,
  nomr varchar(15) DEFAULT NULL,
  nama_pasien varchar(100) DEFAULT NULL,
  tanggal_lahir date DEFAULT NULL,
  peserta varchar(100) DEFAULT NULL,
  jkel enum('L','P') DEFAULT NULL,
  no_kartu varchar(25) DEFAULT NULL,
  tglpulang datetime DEFAULT NULL,
  asal_rujukan enum('1. Faskes 1','2. Faskes 2(RS)') DEFAULT NULL,
  eksekutif enum('0. Tidak','1.Ya') DEFAULT NULL,
  cob enum('0. Tidak','1.Ya') DEFAULT NULL,
  notelep varchar(40) DEFAULT NULL,
  kdprop varchar(5) DEFAULT NULL,
  nmprop varchar(50) DEFAULT NULL,
  kdkab varchar(5) DEFAULT NULL,
  nmkab varchar(50) DEFAULT NULL,
  kdkec varchar(5) DEFAULT NULL,
  nmkec varchar(50) DEFAULT NULL,
  PRIMARY KEY (no_sep),
  KEY no_rawat (no_rawat)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE golongan_barang (
  kode char(4) NOT NULL,
  nama varchar(30) DEFAULT NULL,
  PRIMARY KEY (kode)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE kategori_barang (
  kode char(4) NOT NULL,
  nama varchar(30) DEFAULT NULL,
  PRIMARY KEY (kode)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE jenis (
  kdjns char(4) NOT NULL,
  nama varchar(30) NOT NULL,
  keterangan varchar(50) NOT NULL DEFAULT '',
  PRIMARY KEY (kdjns)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE kodesatuan (
  kode_sat char(4) NOT NULL,
  satuan varchar(30) DEFAULT NULL,
  PRIMARY KEY (kode_sat)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE databarang (
  kode_brng varchar(15) NOT NULL,
  nama_brng varchar(80) DEFAULT NULL,
  kode_satbesar char(4) NOT NULL DEFAULT '-',
  kode_sat char(4) DEFAULT NULL,
  letak_barang varchar(50) DEFAULT NULL,
  dasar double NOT NULL DEFAULT 0,
  h_beli double DEFAULT NULL,
  ralan double DEFAULT NULL,
  isi double NOT NULL DEFAULT 1,
  kapasitas double NOT NULL DEFAULT 0,
  expire date DEFAULT NULL,
  status enum('0','1') NOT NULL DEFAULT '1',
  kdjns char(4) DEFAULT NULL,
  kode_industri char(5) DEFAULT NULL,
  kode_kategori char(4) DEFAULT NULL,
  kode_golongan char(4) DEFAULT NULL,
  PRIMARY KEY (kode_brng),
  KEY kode_sat (kode_sat),
  KEY kdjns (kdjns),
  KEY kode_kategori (kode_kategori),
  KEY kode_golongan (kode_golongan)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE metode_racik (
  kd_racik varchar(3) NOT NULL,
  nm_racik varchar(30) NOT NULL,
  PRIMARY KEY (kd_racik)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE resep_obat (
  no_resep varchar(14) NOT NULL DEFAULT '',
  tgl_perawatan date DEFAULT NULL,
  jam time NOT NULL,
  no_rawat varchar(17) NOT NULL DEFAULT '',
  kd_dokter varchar(20) NOT NULL,
  tgl_peresepan date DEFAULT NULL,
  jam_peresepan time DEFAULT NULL,
  status enum('ralan','ranap') DEFAULT NULL,
  tgl_penyerahan date NOT NULL DEFAULT '0000-00-00',
  jam_penyerahan time NOT NULL DEFAULT '00:00:00',
  PRIMARY KEY (no_resep),
  UNIQUE KEY tgl_perawatan (tgl_perawatan, jam, no_rawat),
  KEY no_rawat (no_rawat),
  KEY kd_dokter (kd_dokter),
  KEY tgl_peresepan (tgl_peresepan, jam_peresepan, no_resep)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE resep_dokter (
  no_resep varchar(14) DEFAULT NULL,
  kode_brng varchar(15) DEFAULT NULL,
  jml double DEFAULT NULL,
  aturan_pakai varchar(150) DEFAULT NULL,
  KEY no_resep (no_resep),
  KEY kode_brng (kode_brng)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE resep_dokter_racikan (
  no_resep varchar(14) NOT NULL,
  no_racik varchar(2) NOT NULL,
  nama_racik varchar(100) NOT NULL,
  kd_racik varchar(3) NOT NULL,
  jml_dr int(11) NOT NULL,
  aturan_pakai varchar(150) NOT NULL,
  keterangan varchar(50) NOT NULL DEFAULT '',
  PRIMARY KEY (no_resep, no_racik),
  KEY kd_racik (kd_racik)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE resep_dokter_racikan_detail (
  no_resep varchar(14) NOT NULL,
  no_racik varchar(2) NOT NULL,
  kode_brng varchar(15) NOT NULL,
  p1 double DEFAULT NULL,
  p2 double DEFAULT NULL,
  kandungan varchar(10) DEFAULT NULL,
  jml double DEFAULT NULL,
  PRIMARY KEY (no_resep, no_racik, kode_brng),
  KEY kode_brng (kode_brng)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;
